"""The digindex Grafana boards as code (Grafana's grafana-foundation-sdk, Grafana 11.6 flavour).

    python grafana/generate.py          # write grafana/dashboards/<uid>.json
    python grafana/generate.py --check  # exit 1 if the committed JSON differs from this code

Five boards: state overview (with utility bills and departments by district), district detail
(bills and QR, departments, the banks' decline rates and branches below target; the district's
grievances, enablement and scheme enrolment), banks (decline rates, the worst branches through
the bounded branch summaries), people lines (every district's grievances against the RBI's
turn-around times, digital enablement against its target, literacy camps, scheme coverage),
pipeline health. Every query reads the
recording rules in deploy/prometheus/rules/ (or, where no rule fits, a metric listed in
docs/metrics.md); tests/deploy/test_grafana.py checks that and that the JSON is up to date.
Each board's uid is derived from its title (``digindex-`` + slug), so links and
``digindex grafana push`` find the same board again. After changing this file, run it, then
``python deploy/k8s/generate.py`` (the boards' ConfigMaps).

The windows in the recording rules' names (``ratio_1h``, ``ratio_24h``) and the panel titles come
from deploy/prometheus/parameters.yaml, as the rules themselves (deploy/prometheus/generate.py).

Needs ``grafana-foundation-sdk==1769699379!11.6.0`` (pure Python, no dependencies) and PyYAML.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

__all__ = ["BOARDS", "DATASOURCE", "OUT_DIR", "render_all", "uid_for"]

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
#: The datasource provisioned by grafana/provisioning/datasources/prometheus.yml.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="digindex-prometheus")
TAGS = ["digindex"]

STATE_OVERVIEW = "State overview"
DISTRICT_DETAIL = "District detail"
BANKS = "Banks"
PEOPLE_LINES = "People lines"
PIPELINE_HEALTH = "Pipeline health"

def _windows() -> tuple[str, str]:
    """The short and long windows of the rules (deploy/prometheus/parameters.yaml), which name the
    recording rules the boards read (``district:digindex_digital_share:ratio_24h``)."""
    windows = yaml.safe_load(PARAMETERS.read_text())["windows"]
    return windows["short"], windows["long"]


PARAMETERS = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "parameters.yaml"
#: The short and long window, e.g. ``1h`` and ``24h``.
S, L = _windows()

#: `district_lgd` selector for the district-detail variable.
D = 'district_lgd="$district_lgd"'
#: `bank` selector for the banks variable (multi-value).
B = 'bank=~"$bank"'
#: Joined onto a query by bank: adds the bank's name from the IFSC registry (legend ``{{name}}``).
NAMES = " * on (bank) group_left (name) bank:digindex_bank_info:max"
#: The utility-bill purposes of PaymentEvent.purpose.
BILLS = 'purpose=~"BILL_.*"'
#: The social-security schemes of SchemeEnrolmentEvent.scheme.
SCHEMES = ("PMSBY", "PMJJBY", "APY")


def _decline(kind: str, selector: str) -> str:
    """A bank's decline rate of ``kind`` (technical, business) per district, ``kind`` dropped so that
    a table merges the two kinds into one row per bank and district."""
    return (f'max without (kind) (district_bank_kind:digindex_bank_decline:ratio_{L}{{kind="{kind}", {selector}}})'
            + NAMES)


def uid_for(title: str) -> str:
    """A stable uid from a board's title: ``digindex-`` + the title's slug (Grafana allows 40 chars)."""
    uid = "digindex-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    assert len(uid) <= 40, uid
    return uid


# --- small helpers over the SDK's builders -------------------------------------------------

def _q(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> Dataquery:
    q = Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    q = q.instant().format("table") if instant else q.range()
    return q


def _targets(panel, queries: list[tuple[str, str]]):  # the SDK builders share no base type
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_q(expr, legend, ref=chr(ord("A") + i)))
    return panel


def _thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps])


SHARE_STEPS = _thresholds((None, "red"), (0.5, "orange"), (0.8, "green"))
DECLINE_STEPS = _thresholds((None, "green"), (0.02, "orange"), (0.05, "red"))


def timeseries_panel(title: str, queries: list[tuple[str, str]], *, unit: str, description: str = "",
                     width: int = 12, height: int = 8, stacked: bool = False,
                     max_val: float | None = None) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
         .unit(unit).span(width).height(height).min(0)
         .legend(common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                 .placement(common.LegendPlacement.RIGHT).show_legend(True).calcs(["lastNotNull"])))
    if max_val is not None:
        p = p.max(max_val)
    if stacked:
        p = p.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(30)
    return _targets(p, queries)


def stat_panel(title: str, expr: str, *, unit: str, description: str = "", width: int = 4,
               steps: ThresholdsConfig | None = None, legend: str = "") -> stat.Panel:
    p = (stat.Panel().title(title).description(description).datasource(DATASOURCE)
         .unit(unit).span(width).height(4)
         .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
         .with_target(_q(expr, legend)))
    if steps is not None:
        p = p.thresholds(steps).color_mode(common.BigValueColorMode.BACKGROUND)
    return p


def table_panel(title: str, queries: list[tuple[str, str]], *, description: str = "", width: int = 24,
                height: int = 12, sort_by: str = "", descending: bool = False,
                rename: dict[str, str] | None = None, hide: tuple[str, ...] = ("Time",)) -> table.Panel:
    """Instant queries in table format, merged into one row per label set (Value #A, #B... columns)."""
    p = (table.Panel().title(title).description(description).datasource(DATASOURCE)
         .span(width).height(height))
    for i, (expr, _) in enumerate(queries):
        p = p.with_target(_q(expr, instant=True, ref=chr(ord("A") + i)))
    p = p.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(DataTransformerConfig(id_val="organize", options={
        "excludeByName": dict.fromkeys(hide, True),
        "renameByName": rename or {},
    }))
    if sort_by:
        p = p.sort_by([common_builders.TableSortByFieldState().display_name(sort_by).desc(descending)])
    return p


def _dashboard(title: str, description: str) -> Dashboard:
    return (Dashboard(title).uid(uid_for(title)).description(description).tags(TAGS)
            .time("now-24h", "now").refresh("1m").timezone("browser").readonly()
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .link(DashboardLink("digindex boards").type(DashboardLinkType.DASHBOARDS).tags(TAGS)
                  .as_dropdown(True).include_vars(False).keep_time(True)))


def _district_variable() -> QueryVariable:
    # Shows the district's name, carries its LGD code (query_result + named capture groups).
    return (QueryVariable("district_lgd").label("District").datasource(DATASOURCE)
            .query({"query": f"query_result(district:digindex_digital_share:ratio_{L})",
                    "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 3})
            .regex('/district="(?<text>[^"]+)".*district_lgd="(?<value>[^"]+)"/')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC))


# --- the boards ---------------------------------------------------------------------------

def state_overview() -> Dashboard:
    detail = f"/d/{uid_for(DISTRICT_DETAIL)}?var-district_lgd=${{__data.fields.district_lgd}}&${{__url_time_range}}"
    share_state = (f'sum(district_status_mode:digindex_window_transactions:max_{L}{{status="SUCCESS", mode="digital"}})'
                   f' / sum(district_status_mode:digindex_window_transactions:max_{L}{{status="SUCCESS"}})')
    return (
        _dashboard(STATE_OVERVIEW, "Every district's digital share and Aadhaar seeding, against its target.")
        .with_panel(stat_panel(f"State digital share ({L})", share_state, unit="percentunit", width=6,
                               steps=SHARE_STEPS,
                               description="Successful digital transactions / all successful transactions, "
                               "all districts, over the last 24 hours."))
        .with_panel(stat_panel("Districts below target",
                               f"count(district:digindex_digital_share:ratio_{L} < on (district_lgd, district)"
                               " district:digindex_district_target:ratio) or vector(0)",
                               unit="none", width=6,
                               steps=_thresholds((None, "green"), (1, "orange"), (7, "red"))))
        .with_panel(stat_panel("State Aadhaar seeding",
                               "sum(district:digindex_accounts_seeded:sum) / sum(district:digindex_accounts:sum)",
                               unit="percentunit", width=6, steps=_thresholds((None, "red"), (0.9, "orange"),
                                                                              (0.99, "green"))))
        .with_panel(stat_panel("Districts reporting", f"count(district:digindex_digital_share:ratio_{L})",
                               unit="none", width=6))
        .with_panel(
            table_panel(
                "Districts ranked by digital share",
                [(f"district:digindex_digital_share:ratio_{L}", ""),
                 (f"district:digindex_digital_share:ratio_{S}", ""),
                 ("district:digindex_district_target:ratio", ""),
                 ("district:digindex_aadhaar_seeding:ratio", ""),
                 (f"district:digindex_technical_decline:ratio_{L}", "")],
                description="Lowest share first. Click a district for its detail board.",
                sort_by=f"Digital share {L}", height=14,
                rename={"district": "District", "district_lgd": "LGD", "Value #A": f"Digital share {L}",
                        "Value #B": f"Digital share {S}", "Value #C": "Target", "Value #D": "Aadhaar seeding",
                        "Value #E": f"Technical declines {L}"})
            .unit("percentunit")
            .override_by_name("District", [{"id": "links", "value": [
                {"title": "District detail", "url": detail}]}])
            .override_by_name("LGD", [{"id": "unit", "value": "none"}])
        )
        .with_panel(timeseries_panel(f"Digital share ({L} window) by district",
                                     [(f"district:digindex_digital_share:ratio_{L}", "{{district}}")],
                                     unit="percentunit", max_val=1, height=10))
        .with_panel(timeseries_panel("Aadhaar seeding coverage by district",
                                     [("district:digindex_aadhaar_seeding:ratio", "{{district}}")],
                                     unit="percentunit", max_val=1, height=10))
        .with_row(Row("Utility bills and government departments"))
        .with_panel(
            table_panel(
                f"Utility bills by district ({L} window)",
                [(f"district_purpose:digindex_purpose_digital_share:ratio_{L}{{{BILLS}}}", ""),
                 (f"district_purpose:digindex_bill_qr_share:ratio_{L}{{{BILLS}}}", "")],
                description="Energy, water and housing bills: the share of successful payments made digitally, "
                "and the share made by scanning the bill's QR code (UPI_QR). Lowest digital share first.",
                width=12, height=14, sort_by="Paid digitally",
                rename={"district": "District", "district_lgd": "LGD", "purpose": "Bill",
                        "Value #A": "Paid digitally", "Value #B": "Paid by QR"})
            .unit("percentunit")
            .override_by_name("LGD", [{"id": "unit", "value": "none"}]))
        .with_panel(
            table_panel(
                f"Government departments by district ({L} window)",
                [(f"district_department:digindex_department_digital_share:ratio_{L}", "")],
                description="Successful payments carrying a department code (receipts and payments of "
                "government departments): the share made digitally. Lowest first.",
                width=12, height=14, sort_by="Digital share",
                rename={"district": "District", "district_lgd": "LGD", "department": "Department",
                        "Value": "Digital share"})
            .unit("percentunit")
            .override_by_name("LGD", [{"id": "unit", "value": "none"}]))
    )


def district_detail() -> Dashboard:
    return (
        _dashboard(DISTRICT_DETAIL, "One district: digital share by window, channel and bank; seeding; "
                   "declines; freshness of the feeds.")
        .with_variable(_district_variable())
        .with_panel(stat_panel(f"Digital share ({S})", f"district:digindex_digital_share:ratio_{S}{{{D}}}",
                               unit="percentunit", steps=SHARE_STEPS))
        .with_panel(stat_panel(f"Digital share ({L})", f"district:digindex_digital_share:ratio_{L}{{{D}}}",
                               unit="percentunit", steps=SHARE_STEPS))
        .with_panel(stat_panel("Target", f"district:digindex_district_target:ratio{{{D}}}", unit="percentunit"))
        .with_panel(stat_panel("Aadhaar seeding", f"district:digindex_aadhaar_seeding:ratio{{{D}}}",
                               unit="percentunit"))
        .with_panel(stat_panel("Accounts known", f"district:digindex_accounts:sum{{{D}}}", unit="short"))
        .with_panel(stat_panel(f"Technical declines ({S})", f"district:digindex_technical_decline:ratio_{S}{{{D}}}",
                               unit="percentunit", steps=DECLINE_STEPS))
        .with_row(Row("Digital share"))
        .with_panel(timeseries_panel("Digital share by window",
                                     [(f"district:digindex_digital_share:ratio_{S}{{{D}}}", f"{S}"),
                                      (f"district:digindex_digital_share:ratio_{L}{{{D}}}", f"{L}"),
                                      (f"district:digindex_district_target:ratio{{{D}}}", "target")],
                                     unit="percentunit", max_val=1))
        .with_panel(timeseries_panel("Digital share of value by window",
                                     [(f"district:digindex_digital_value_share:ratio_{S}{{{D}}}", f"{S}"),
                                      (f"district:digindex_digital_value_share:ratio_{L}{{{D}}}", f"{L}")],
                                     unit="percentunit", max_val=1))
        .with_panel(timeseries_panel("Successful payments by channel",
                                     [(f'district_channel_status:digindex_payments:rate5m{{{D}, status="SUCCESS"}}',
                                       "{{channel}}")], unit="ops", stacked=True))
        .with_panel(timeseries_panel(f"Digital share by bank ({L} window)",
                                     [(f"district_bank:digindex_digital_share:ratio_{L}{{{D}}}{NAMES}", "{{name}}")],
                                     unit="percentunit", max_val=1))
        .with_panel(timeseries_panel("Value of successful payments by mode",
                                     [(f"district_mode:digindex_payments_amount_rupees:rate5m{{{D}}}", "{{mode}}")],
                                     unit="currencyINR", stacked=True,
                                     description="Rupees per second."))
        .with_panel(timeseries_panel("Transactions in the last hour by status and mode",
                                     [(f"district_status_mode:digindex_window_transactions:max_{S}{{{D}}}",
                                       "{{status}} {{mode}}")], unit="short"))
        .with_row(Row("Seeding and declines"))
        .with_panel(timeseries_panel("Accounts by Aadhaar seeding status",
                                     [(f"district_status:digindex_accounts:max{{{D}}}", "{{status}}")],
                                     unit="short", stacked=True))
        .with_panel(timeseries_panel("Technical declines / digital attempts",
                                     [(f"district:digindex_technical_decline:ratio_{S}{{{D}}}", f"{S}"),
                                      (f"district:digindex_technical_decline:ratio_{L}{{{D}}}", f"{L}")],
                                     unit="percentunit"))
        .with_panel(timeseries_panel(f"Technical declines by bank ({S} window)",
                                     [(f"district_bank:digindex_technical_decline:ratio_{S}{{{D}}}{NAMES}",
                                       "{{name}}")], unit="percentunit"))
        .with_row(Row("Utility bills, QR and government departments"))
        .with_panel(timeseries_panel(f"Digital share by purpose ({L} window)",
                                     [(f"district_purpose:digindex_purpose_digital_share:ratio_{L}{{{D}}}",
                                       "{{purpose}}")], unit="percentunit", max_val=1,
                                     description="Successful digital / all successful payments of each purpose "
                                     "(bills, government receipts and payments, DBT, person to person ...)."))
        .with_panel(timeseries_panel(f"Bills paid by QR ({L} window)",
                                     [(f"district_purpose:digindex_bill_qr_share:ratio_{L}{{{D}, {BILLS}}}",
                                       "{{purpose}}")], unit="percentunit", max_val=1,
                                     description="Successful bill payments made by scanning a QR code (UPI_QR) / "
                                     "all successful payments of that bill."))
        .with_panel(timeseries_panel(f"Digital share by government department ({L} window)",
                                     [(f"district_department:digindex_department_digital_share:ratio_{L}{{{D}}}",
                                       "{{department}}")], unit="percentunit", max_val=1, width=24))
        .with_row(Row("Banks in the district"))
        .with_panel(
            table_panel(f"Decline rates by bank ({L} window)",
                        [(_decline("technical", D), ""), (_decline("business", D), "")],
                        description="NPCI's definitions: declines of each kind / all digital attempts of the bank "
                        "in the district. Technical declines are the bank's or the network's (RBI: keep UPI "
                        "below 1 %), business declines the customer's. Highest technical first.",
                        width=12, height=10, sort_by="Technical declines", descending=True,
                        hide=("Time", "district", "district_lgd"),
                        rename={"bank": "Bank code", "name": "Bank", "Value #A": "Technical declines",
                                "Value #B": "Business declines"})
            .unit("percentunit"))
        .with_panel(
            table_panel(f"Branches below the district's target by bank ({L} window)",
                        [(f"district_bank:digindex_branches_below_target:max_{L}{{{D}}}{NAMES}", ""),
                         (f"district_bank:digindex_branches_reporting:max_{L}{{{D}}}{NAMES}", "")],
                        description="Branches with at least the configured minimum of transactions (reporting) "
                        "and, of those, the branches whose digital share is below the district's target. "
                        "The branches themselves: the query API, /api/v1/districts/<lgd>/branches?order=worst.",
                        width=12, height=10, sort_by="Below target", descending=True,
                        hide=("Time", "district", "district_lgd"),
                        rename={"bank": "Bank code", "name": "Bank", "Value #A": "Below target",
                                "Value #B": "Reporting"})
            .unit("none"))
        .with_row(Row("Grievances (RBI turn-around times)"))
        .with_panel(timeseries_panel("Open grievances by turn-around time",
                                     [(f"district_tat:digindex_grievances_open:sum{{{D}}}", "{{tat}}")],
                                     unit="short", stacked=True, width=8,
                                     description="Failed-transaction grievances still open: within their turn-around "
                                     "time (T+1 or T+5 by case, RBI DPSS.CO.PD No.629), past it (Rs 100 a day owed), "
                                     "none (case OTHER). Judged against today's date in India at every scrape."))
        .with_panel(timeseries_panel("Grievances resolved within the turn-around time and within days",
                                     [(f"district:digindex_grievance_resolved_within_tat:ratio_{L}{{{D}}}",
                                       f"within TAT {L}"),
                                      (f"district:digindex_grievance_resolved_within_tat:ratio_{S}{{{D}}}",
                                       f"within TAT {S}"),
                                      (f"district_days:digindex_grievance_resolved_within_days:ratio_{L}{{{D}}}",
                                       f"within {{{{days}}}} days {L}")],
                                     unit="percentunit", max_val=1, width=8,
                                     description="Of the grievances with a turn-around time resolved in the window, "
                                     "those resolved within it, and those resolved at most N days after the "
                                     "transaction (the directive's 1-2 days)."))
        .with_panel(timeseries_panel("Compensation owed by bank",
                                     [(f"district_bank:digindex_grievance_compensation_owed_rupees:max{{{D}}}{NAMES}",
                                       "{{name}}")], unit="currencyINR", width=8,
                                     description="Rs 100 per day past the turn-around time, open and resolved "
                                     "grievances together (alert DigindexBankGrievancesPastTat pages the bank)."))
        .with_row(Row("Digital enablement and literacy camps"))
        .with_panel(timeseries_panel("Digitally enabled accounts by type",
                                     [(f"district_account_type:digindex_digital_enablement:ratio{{{D}}}",
                                       "{{account_type}}"),
                                      (f"district_account_type:digindex_enablement_target:ratio{{{D}}}",
                                       "target {{account_type}}")],
                                     unit="percentunit", max_val=1, width=8,
                                     description="The RBI's and SLBCs' measure: savings accounts with a debit card, "
                                     "internet or mobile banking, UPI or AePS; current accounts with one of those or a "
                                     "PoS or QR point. Below target for 6 h: DigindexDistrictEnablementBelowTarget."))
        .with_panel(timeseries_panel("Enabled accounts by mode",
                                     [(f"district_account_type_mode:digindex_enabled_accounts:max{{{D}}}",
                                       "{{account_type}} {{mode}}")], unit="short", width=8))
        .with_panel(timeseries_panel("Accounts enabled at literacy camps",
                                     [(f"district:digindex_camp_enablements:rate5m{{{D}}} * 3600", "per hour")],
                                     unit="short", width=8,
                                     description="Accounts that became enabled through an event carrying a camp's "
                                     "camp_ref, per hour (5-minute rate)."))
        .with_row(Row("Social security schemes"))
        .with_panel(timeseries_panel("Enrolled accounts by scheme",
                                     [(f"district_scheme:digindex_scheme_enrolled_accounts:max{{{D}}}", "{{scheme}}")],
                                     unit="short", description="PMSBY, PMJJBY and Atal Pension Yojana: accounts whose "
                                     "latest status is ENROLLED."))
        .with_panel(timeseries_panel("Coverage of eligible savings accounts by scheme",
                                     [(f"district_scheme:digindex_scheme_coverage:ratio{{{D}}}", "{{scheme}}")],
                                     unit="percentunit", max_val=1,
                                     description="Enrolled / eligible savings accounts (by the holder's age band: "
                                     "PMSBY 18-70, PMJJBY 18-50, APY 18-40); accounts with no band reported are "
                                     "outside it (README)."))
        .with_row(Row("Freshness"))
        .with_panel(timeseries_panel("Age of the district's latest event",
                                     [(f"time() - district_topic:digindex_last_event_timestamp_seconds:max{{{D}}}",
                                       "{{topic}}")], unit="s"))
        .with_panel(timeseries_panel("Age of each bank's latest event in the district",
                                     [("(time() - district_bank_topic:digindex_bank_district_last_event_timestamp_"
                                       f"seconds:max{{{D}}}){NAMES}", "{{name}} {{topic}}")], unit="s",
                                     description="The banks reporting for this district; a bank silent everywhere "
                                     "mutes this district's share alerts (DigindexBankFeedSilentInDistrict)."))
    )


def banks() -> Dashboard:
    # Shows the bank's name, carries its code (query_result + named capture groups).
    bank_variable = (QueryVariable("bank").label("Bank").datasource(DATASOURCE)
                     .query({"query": "query_result(bank:digindex_bank_info:max)",
                             "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 3})
                     .regex('/bank="(?<value>[^"]+)".*name="(?<text>[^"]+)"/')
                     .multi(True).include_all(True).all_value(".*")
                     .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC))
    return (
        _dashboard(BANKS, "Partner banks: digital share, technical and business declines and branches below "
                   "target per district, feed freshness.")
        .with_variable(bank_variable)
        .with_panel(timeseries_panel(f"Digital share by bank, all districts ({L} window)",
                                     [(f"bank:digindex_digital_share:ratio_{L}{{{B}}}{NAMES}", "{{name}}")],
                                     unit="percentunit", max_val=1))
        .with_panel(
            bargauge.Panel().title("Age of each bank's latest event").datasource(DATASOURCE)
            .unit("s").span(12).height(8).min(0)
            # Options Grafana's schema requires (without them the panel runs on the plugin's
            # implicit defaults): the latest value of each series, one horizontal bar each.
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
            .orientation(common.VizOrientation.HORIZONTAL)
            .legend(common_builders.VizLegendOptions().show_legend(False)
                    .display_mode(common.LegendDisplayMode.LIST).placement(common.LegendPlacement.BOTTOM))
            .thresholds(_thresholds((None, "green"), (900, "orange"), (3600, "red")))
            .with_target(_q(f"(time() - bank_topic:digindex_bank_last_event_timestamp_seconds:max{{{B}}}){NAMES}",
                            "{{name}} {{topic}}")))
        .with_panel(
            table_panel(f"Banks by district ({L} window)",
                        [(f"district_bank:digindex_digital_share:ratio_{L}{{{B}}}{NAMES}", ""),
                         (f"district_bank:digindex_technical_decline:ratio_{L}{{{B}}}{NAMES}", "")],
                        description="A bank's digital share of its successful transactions, and its "
                        "technical declines / digital attempts, in each district.",
                        height=14, sort_by=f"Digital share {L}",
                        rename={"bank": "Bank code", "name": "Bank", "district": "District", "district_lgd": "LGD",
                                "Value #A": f"Digital share {L}", "Value #B": f"Technical declines {L}"})
            .unit("percentunit")
            .override_by_name("LGD", [{"id": "unit", "value": "none"}]))
        .with_panel(timeseries_panel(f"Technical declines by bank and district ({S} window)",
                                     [(f"district_bank:digindex_technical_decline:ratio_{S}{{{B}}}{NAMES}",
                                       "{{name}} {{district}}")], unit="percentunit", width=24))
        .with_row(Row("Declines and branches"))
        .with_panel(
            table_panel(f"Decline rates by bank and district ({L} window)",
                        [(_decline("technical", B), ""), (_decline("business", B), "")],
                        description="NPCI's TD % and BD %: declines of each kind / all digital attempts of the "
                        "bank in the district. RBI has advised banks to keep UPI technical declines below 1 % "
                        "(alert DigindexBankTechnicalDeclinesHigh, to the bank's coordinator). Highest first.",
                        height=14, sort_by="Technical declines", descending=True,
                        rename={"bank": "Bank code", "name": "Bank", "district": "District", "district_lgd": "LGD",
                                "Value #A": "Technical declines", "Value #B": "Business declines"})
            .unit("percentunit")
            .override_by_name("LGD", [{"id": "unit", "value": "none"}]))
        .with_panel(
            table_panel(f"Worst branches: branches below target by bank and district ({L} window)",
                        [(f"district_bank:digindex_branches_below_target:max_{L}{{{B}}}"
                          f" / district_bank:digindex_branches_reporting:max_{L}{{{B}}}{NAMES}", ""),
                         (f"district_bank:digindex_branches_below_target:max_{L}{{{B}}}{NAMES}", ""),
                         (f"district_bank:digindex_branches_reporting:max_{L}{{{B}}}{NAMES}", "")],
                        description="The branch-wise analysis through its bounded summaries: of a bank's branches "
                        "reporting in a district (at least the configured minimum of transactions), how many "
                        "have a digital share below the district's target. Worst share first; the branches "
                        "themselves: /api/v1/districts/<lgd>/branches?bank=<code>&order=worst.",
                        height=14, sort_by="Share below target", descending=True,
                        rename={"bank": "Bank code", "name": "Bank", "district": "District", "district_lgd": "LGD",
                                "Value #A": "Share below target", "Value #B": "Below target",
                                "Value #C": "Reporting"})
            .override_by_name("Share below target", [{"id": "unit", "value": "percentunit"}])
            .override_by_name("LGD", [{"id": "unit", "value": "none"}]))
        .with_panel(
            bargauge.Panel().title(f"Branches below target by bank, all districts ({L} window)")
            .description("Branches below their district's target / branches reporting, over every district "
                         "the bank reports from.")
            .datasource(DATASOURCE).unit("percentunit").span(24).height(8).min(0).max(1)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
            .orientation(common.VizOrientation.HORIZONTAL)
            .legend(common_builders.VizLegendOptions().show_legend(False)
                    .display_mode(common.LegendDisplayMode.LIST).placement(common.LegendPlacement.BOTTOM))
            .thresholds(_thresholds((None, "green"), (0.25, "orange"), (0.5, "red")))
            .with_target(_q(f"(sum by (bank) (district_bank:digindex_branches_below_target:max_{L}{{{B}}})"
                            f" / sum by (bank) (district_bank:digindex_branches_reporting:max_{L}{{{B}}})){NAMES}",
                            "{{name}}")))
    )


def _by_type(kind: str) -> str:
    """The enablement ratio of one account type, the type dropped so a table merges the types."""
    ratio = "district_account_type:digindex_digital_enablement:ratio"
    return f'max without (account_type) ({ratio}{{account_type="{kind}"}})'


def _scheme(metric: str, scheme: str) -> str:
    """A scheme's figure per district, the scheme dropped so a table merges the schemes."""
    return f'max without (scheme) (district_scheme:digindex_scheme_{metric}{{scheme="{scheme}"}})'


def people_lines() -> Dashboard:
    detail = f"/d/{uid_for(DISTRICT_DETAIL)}?var-district_lgd=${{__data.fields.district_lgd}}&${{__url_time_range}}"
    open_tat = "district_tat:digindex_grievances_open:sum"
    return (
        _dashboard(PEOPLE_LINES, "The directive's people lines, every district: grievances against the RBI's "
                   "turn-around times, digital enablement of accounts and literacy camps, social-security schemes.")
        .with_row(Row("Grievances (RBI turn-around times)"))
        .with_panel(stat_panel("Open past the turn-around time", f'sum({open_tat}{{tat="past"}}) or vector(0)',
                               unit="none", width=6, steps=_thresholds((None, "green"), (1, "orange"), (50, "red")),
                               description="Grievances about failed digital payments open past T+1 or T+5, all "
                               "districts. Each day late costs the bank Rs 100 per grievance."))
        .with_panel(stat_panel("Open within the turn-around time", f'sum({open_tat}{{tat="within"}}) or vector(0)',
                               unit="none", width=6))
        .with_panel(stat_panel("Compensation owed",
                               "sum(district:digindex_grievance_compensation_owed_rupees:sum) or vector(0)",
                               unit="currencyINR", width=6))
        .with_panel(stat_panel("Resolved within the turn-around time (5m)",
                               'sum(district_bank_tat:digindex_grievances_resolved:rate5m{tat="within"})'
                               ' / sum(district_bank_tat:digindex_grievances_resolved:rate5m{tat=~"within|past"})',
                               unit="percentunit", width=6, steps=SHARE_STEPS,
                               description="Of the grievances with a turn-around time resolved in the last 5 minutes, "
                               "all districts, those resolved within it."))
        .with_panel(
            table_panel(
                f"Grievances by district ({L} window)",
                [(f'max without (tat) ({open_tat}{{tat="past"}})', ""),
                 (f'max without (tat) ({open_tat}{{tat="within"}})', ""),
                 (f"district:digindex_grievance_resolved_within_tat:ratio_{L}", ""),
                 (f"max without (days) (district_days:digindex_grievance_resolved_within_days:ratio_{L})", ""),
                 ("district:digindex_grievance_compensation_owed_rupees:sum", "")],
                description="Open grievances past and within their turn-around time, the shares of the window's "
                "resolutions made within it and within the directive's days, and the compensation owed (Rs). "
                "Most open past the turn-around time first. Click a district for its detail board.",
                sort_by="Open past TAT", descending=True, height=12,
                rename={"district": "District", "district_lgd": "LGD", "Value #A": "Open past TAT",
                        "Value #B": "Open within TAT", "Value #C": f"Resolved within TAT {L}",
                        "Value #D": f"Resolved within days {L}", "Value #E": "Compensation owed"})
            .override_by_name("District", [{"id": "links", "value": [
                {"title": "District detail", "url": detail}]}])
            .override_by_name("LGD", [{"id": "unit", "value": "none"}])
            .override_by_name(f"Resolved within TAT {L}", [{"id": "unit", "value": "percentunit"}])
            .override_by_name(f"Resolved within days {L}", [{"id": "unit", "value": "percentunit"}])
            .override_by_name("Compensation owed", [{"id": "unit", "value": "currencyINR"}]))
        .with_panel(
            table_panel(
                "Grievances past the turn-around time by bank and district",
                [(f'max without (tat) (district_bank_tat:digindex_grievances_open:max{{tat="past"}}){NAMES}', ""),
                 (f"district_bank:digindex_grievance_compensation_owed_rupees:max{NAMES}", "")],
                description="What DigindexBankGrievancesPastTat pages each bank's coordinator about.",
                sort_by="Open past TAT", descending=True, height=12,
                rename={"bank": "Bank code", "name": "Bank", "district": "District", "district_lgd": "LGD",
                        "Value #A": "Open past TAT", "Value #B": "Compensation owed"})
            .override_by_name("LGD", [{"id": "unit", "value": "none"}])
            .override_by_name("Compensation owed", [{"id": "unit", "value": "currencyINR"}]))
        .with_panel(timeseries_panel("Open grievances past the turn-around time by district",
                                     [(f'{open_tat}{{tat="past"}}', "{{district}}")], unit="short", width=24))
        .with_row(Row("Digital enablement and literacy camps"))
        .with_panel(
            table_panel(
                "Digitally enabled accounts by district",
                [(_by_type("SAVINGS"), ""), (_by_type("CURRENT"), ""),
                 ("district:digindex_camp_enablements:rate5m * 86400", "")],
                description="The RBI's and SLBCs' \"100 % digitally enabled\": savings accounts with a debit card, "
                "internet or mobile banking, UPI or AePS; current accounts with one of those or a PoS or QR point "
                "(SLBC pilot districts reported 72-94 %). Camp enablements: accounts enabled at literacy camps, a "
                "day at the last 5 minutes' rate. Least enabled first.",
                width=12, height=14, sort_by="Savings enabled",
                rename={"district": "District", "district_lgd": "LGD", "Value #A": "Savings enabled",
                        "Value #B": "Current enabled", "Value #C": "Camp enablements a day"})
            .unit("percentunit")
            .override_by_name("District", [{"id": "links", "value": [
                {"title": "District detail", "url": detail}]}])
            .override_by_name("LGD", [{"id": "unit", "value": "none"}])
            .override_by_name("Camp enablements a day", [{"id": "unit", "value": "short"}]))
        .with_panel(timeseries_panel("Savings accounts digitally enabled by district",
                                     [('district_account_type:digindex_digital_enablement:ratio{account_type="SAVINGS"}',
                                       "{{district}}"),
                                      ('max(district_account_type:digindex_enablement_target:ratio'
                                       '{account_type="SAVINGS"})', "target")],
                                     unit="percentunit", max_val=1, height=14))
        .with_panel(timeseries_panel("Enabled accounts by mode, all districts",
                                     [("sum by (account_type, mode) "
                                       "(district_account_type_mode:digindex_enabled_accounts:max)",
                                       "{{account_type}} {{mode}}")], unit="short"))
        .with_panel(timeseries_panel("Accounts enabled at literacy camps by district",
                                     [("district:digindex_camp_enablements:rate5m * 3600", "{{district}}")],
                                     unit="short", stacked=True,
                                     description="Per hour, at the last 5 minutes' rate."))
        .with_row(Row("Social security schemes"))
        .with_panel(
            table_panel(
                "Scheme coverage by district",
                [*[(_scheme("coverage:ratio", s), "") for s in SCHEMES],
                 *[(_scheme("enrolled_accounts:max", s), "") for s in SCHEMES]],
                description="Enrolled / eligible savings accounts by the holder's age band (PMSBY 18-70, PMJJBY "
                "18-50, APY 18-40), and the accounts enrolled. Informational: no alert (runbooks README).",
                height=14, sort_by="PMSBY coverage",
                rename={"district": "District", "district_lgd": "LGD",
                        **{f"Value #{chr(ord('A') + i)}": f"{s} coverage" for i, s in enumerate(SCHEMES)},
                        **{f"Value #{chr(ord('D') + i)}": f"{s} enrolled" for i, s in enumerate(SCHEMES)}})
            .unit("percentunit")
            .override_by_name("LGD", [{"id": "unit", "value": "none"}])
            .override_by_name("PMSBY enrolled", [{"id": "unit", "value": "short"}])
            .override_by_name("PMJJBY enrolled", [{"id": "unit", "value": "short"}])
            .override_by_name("APY enrolled", [{"id": "unit", "value": "short"}]))
        .with_panel(timeseries_panel("Enrolled accounts by scheme, all districts",
                                     [("scheme:digindex_scheme_enrolled_accounts:sum", "{{scheme}}")], unit="short"))
        .with_panel(timeseries_panel("PMSBY coverage by district",
                                     [('district_scheme:digindex_scheme_coverage:ratio{scheme="PMSBY"}',
                                       "{{district}}")],
                                     unit="percentunit", max_val=1))
    )


def pipeline_health() -> Dashboard:
    return (
        _dashboard(PIPELINE_HEALTH, "The workers: throughput, dead letters, lag, rebalances, delay.")
        .with_panel(stat_panel("Workers running", "sum(job:digindex_worker_info:count)", unit="none",
                               steps=_thresholds((None, "red"), (1, "orange"), (2, "green"))))
        .with_panel(stat_panel("Scrape targets up", 'sum(up{job="digindex"})', unit="none"))
        .with_panel(stat_panel("Consumer lag", "sum(topic:digindex_consumer_lag_messages:sum)", unit="short",
                               steps=_thresholds((None, "green"), (1000, "orange"), (10000, "red"))))
        .with_panel(stat_panel("Events/s", "sum(topic:digindex_events:rate5m)", unit="ops"))
        .with_panel(stat_panel("Dead letters/s", "sum(topic:digindex_deadletters:rate5m)", unit="ops"))
        .with_panel(stat_panel("Rebalances (15m)", "sum(job:digindex_rebalances:increase15m)", unit="none"))
        .with_panel(timeseries_panel("Events/s by topic and outcome",
                                     [("topic_outcome:digindex_events:rate5m", "{{topic}} {{outcome}}")],
                                     unit="ops"))
        .with_panel(timeseries_panel("Dead letters/s by reason",
                                     [("topic_reason:digindex_deadletters:rate5m", "{{topic}} {{reason}}")],
                                     unit="ops"))
        .with_panel(timeseries_panel("Consumer lag by partition",
                                     [("topic_partition:digindex_consumer_lag_messages:max",
                                       "{{topic}}/{{partition}}")], unit="short"))
        .with_panel(timeseries_panel("End-to-end delay",
                                     [("topic_quantile:digindex_event_delay_seconds:histogram_quantile_rate5m",
                                       "{{topic}} p{{quantile}}")], unit="s",
                                     description="Processing time minus the event's occurred_at."))
        .with_panel(timeseries_panel("Workers and assigned partitions",
                                     [("job:digindex_worker_info:count", "workers"),
                                      ("topic:digindex_assigned_partitions:sum", "partitions {{topic}}")],
                                     unit="short"))
        .with_panel(timeseries_panel("Rebalances (15m) and checkpoints/s",
                                     [("job:digindex_rebalances:increase15m", "rebalances"),
                                      ("topic:digindex_checkpoints:rate5m", "checkpoints/s {{topic}}")],
                                     unit="short"))
    )


BOARDS: dict[str, Callable[[], Dashboard]] = {
    STATE_OVERVIEW: state_overview,
    DISTRICT_DETAIL: district_detail,
    BANKS: banks,
    PEOPLE_LINES: people_lines,
    PIPELINE_HEALTH: pipeline_health,
}


def render_all() -> dict[str, str]:
    """File name under grafana/dashboards/ -> its JSON text."""
    out = {}
    for title, build in BOARDS.items():
        board = build().build()
        assert board.title == title and board.uid == uid_for(title)
        out[f"{board.uid}.json"] = JSONEncoder(sort_keys=True, indent=2).encode(board) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale or extra files instead of writing")
    args = parser.parse_args(argv)
    expected = render_all()
    stale = [n for n, text in expected.items()
             if not (OUT_DIR / n).exists() or (OUT_DIR / n).read_text() != text]
    extra = sorted(p.name for p in OUT_DIR.glob("*.json") if p.name not in expected)
    if args.check:
        if stale or extra:
            print(f"out of date (run python grafana/generate.py): {stale + extra}", file=sys.stderr)
            return 1
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (OUT_DIR / name).write_text(expected[name])
        print(f"wrote grafana/dashboards/{name}")
    for name in extra:
        (OUT_DIR / name).unlink()
        print(f"removed grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
