"""The console's words in Chinese (the default) and English: one catalogue, every key in both
languages (tests/unit/test_console_i18n.py holds it so). A person picks the language with
``?lang=en`` (or ``zh``); the choice is kept in a cookie. Times shown to people are Beijing time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from fastapi import Request

from application.results import BEIJING

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT_LANGUAGE: Language = "zh"
LANGUAGE_COOKIE = "sscard_lang"

# key -> {language: text}. Texts may hold {name} fields filled by ``Translator``.
MESSAGES: Mapping[str, Mapping[Language, str]] = MappingProxyType(
    {
        "app.title": {"zh": "社保卡业务后台", "en": "Social security card back office"},
        "lang.switch": {"zh": "English", "en": "中文"},
        "nav.home": {"zh": "首页", "en": "Home"},
        "nav.sign_out": {"zh": "退出", "en": "Sign out"},
        "nav.signed_in_as": {
            "zh": "当前用户：{subject}（{role}）",
            "en": "Signed in: {subject} ({role})",
        },
        "sign_in.title": {"zh": "登录", "en": "Sign in"},
        "sign_in.token": {"zh": "访问令牌", "en": "Access token"},
        "sign_in.token_help": {
            "zh": "粘贴身份认证服务签发的令牌（开发环境：sscard token issue）。",
            "en": "Paste a token of the identity provider (development: sscard token issue).",
        },
        "sign_in.submit": {"zh": "登录", "en": "Sign in"},
        "sign_in.provider": {
            "zh": "通过统一身份认证登录",
            "en": "Sign in with the identity provider",
        },
        "sign_in.refused": {
            "zh": "令牌未通过验证：{reason}",
            "en": "The token was refused: {reason}",
        },
        "sign_in.expired": {
            "zh": "登录已失效，请重新登录。",
            "en": "Your sign-in has ended; please sign in again.",
        },
        "sign_in.too_long": {"zh": "令牌过长。", "en": "The token is too long."},
        "signed_out": {"zh": "已退出。", "en": "You have signed out."},
        "home.title": {"zh": "工作台", "en": "Start"},
        "home.none": {
            "zh": "您的角色在控制台中没有可用页面。",
            "en": "Your role has no pages in the console.",
        },
        "menu.queue": {"zh": "网点待领卡队列", "en": "Outlet pickup queue"},
        "menu.history": {"zh": "持卡人记录", "en": "Cardholder history"},
        "menu.claims": {"zh": "理赔申请", "en": "Claims"},
        "role.outlet_clerk": {"zh": "网点柜员", "en": "outlet clerk"},
        "role.production_centre": {"zh": "制卡中心", "en": "production centre"},
        "role.claims_officer": {"zh": "理赔审核员", "en": "claims officer"},
        "role.auditor": {"zh": "审计员", "en": "auditor"},
        "role.settlement": {"zh": "结算系统", "en": "settlement system"},
        "role.cardholder": {"zh": "持卡人", "en": "cardholder"},
        "role.admin": {"zh": "系统管理员", "en": "administrator"},
        "done.collected": {
            "zh": "已登记领卡，卡片离开待领队列。",
            "en": "Collection recorded; the card leaves the pickup queue.",
        },
        "done.activated": {"zh": "已启用新卡。", "en": "The card is activated."},
        "done.approved": {"zh": "已核准理赔。", "en": "The claim is approved."},
        "done.rejected": {"zh": "已驳回理赔。", "en": "The claim is rejected."},
        "done.paid": {"zh": "已登记支付。", "en": "The payment is recorded."},
        "queue.title": {"zh": "网点队列：{outlet}", "en": "Outlet queue: {outlet}"},
        "queue.today": {"zh": "营业日：{day}", "en": "Business day: {day}"},
        "queue.pick": {"zh": "查看网点", "en": "Show the outlet"},
        "queue.outlet": {"zh": "网点编码", "en": "Outlet code"},
        "queue.empty": {"zh": "此队列为空。", "en": "Nothing in this queue."},
        "queue.certificate": {"zh": "领卡凭证号", "en": "Certificate"},
        "queue.card": {"zh": "卡号", "en": "Card number"},
        "queue.name": {"zh": "姓名", "en": "Name"},
        "queue.kind": {"zh": "业务", "en": "Case"},
        "queue.since": {"zh": "时间", "en": "Since"},
        "queue.due": {"zh": "应制卡日期", "en": "Production due"},
        "queue.action": {"zh": "办理", "en": "Action"},
        "queue.overdue": {"zh": "逾期 {days} 个工作日", "en": "{days} working days late"},
        "queue.holder_id": {"zh": "持卡人身份证号", "en": "Holder's ID number"},
        "queue.collected_by": {"zh": "领取人", "en": "Collected by"},
        "queue.agent_id": {"zh": "代领人身份证号", "en": "Agent's ID number"},
        "queue.document": {"zh": "核验证件", "en": "Document checked"},
        "queue.collect": {"zh": "登记领卡", "en": "Record collection"},
        "queue.activate": {"zh": "启用", "en": "Activate"},
        "queue.page": {"zh": "第 {page} 页", "en": "Page {page}"},
        "queue.next": {"zh": "下一页", "en": "Next page"},
        "status.pre-reported-today": {"zh": "今日预挂失", "en": "Pre-reported today"},
        "status.open": {"zh": "在办", "en": "Open"},
        "status.awaiting-production": {"zh": "待制卡", "en": "Awaiting production"},
        "status.ready": {"zh": "待领卡", "en": "Ready for pickup"},
        "status.overdue": {"zh": "制卡逾期", "en": "Production overdue"},
        "status.collected": {"zh": "已领未启用", "en": "Collected, not activated"},
        "status.activated": {"zh": "已启用", "en": "Activated"},
        "applicant.holder": {"zh": "本人", "en": "The holder"},
        "applicant.agent": {"zh": "代领人", "en": "An agent"},
        "document.resident_id_card": {"zh": "居民身份证", "en": "Resident ID card"},
        "document.household_register": {"zh": "户口簿", "en": "Household register"},
        "document.online_identity": {"zh": "线上实名认证", "en": "Verified online"},
        "history.holder_id": {"zh": "持卡人身份证号", "en": "Holder's ID number"},
        "history.look_up": {"zh": "查询", "en": "Look up"},
        "history.masked": {
            "zh": "业务记录（身份证号、姓名已脱敏）",
            "en": "History (ID numbers and names masked)",
        },
        "history.unmasked": {
            "zh": "业务记录（完整信息，本次查阅已登记）",
            "en": "History in full (this read is recorded)",
        },
        "history.at": {"zh": "时间", "en": "At"},
        "history.event": {"zh": "事件", "en": "Event"},
        "history.holder": {"zh": "持卡人", "en": "Holder"},
        "history.actor": {"zh": "经办", "en": "By"},
        "history.outlet": {"zh": "网点", "en": "Outlet"},
        "history.details": {"zh": "内容", "en": "Details"},
        "history.unmask_title": {"zh": "查阅完整信息", "en": "Read in full"},
        "history.unmask_help": {
            "zh": "查阅将连同事由记入审计记录。",
            "en": "The read is recorded, with its reason, before anything is shown.",
        },
        "history.reason": {"zh": "查阅事由", "en": "Reason"},
        "history.reference": {"zh": "案卷编号", "en": "Case reference"},
        "history.unmask": {"zh": "查阅完整信息", "en": "Read in full"},
        "reason.audit": {"zh": "审计", "en": "Audit"},
        "reason.holder_request": {"zh": "本人申请查阅", "en": "The holder's request"},
        "reason.legal_order": {"zh": "司法或监管要求", "en": "Legal order"},
        "reason.fraud_investigation": {"zh": "涉嫌欺诈调查", "en": "Fraud investigation"},
        "reason.data_correction": {"zh": "信息更正核查", "en": "Data correction"},
        "claims.all": {"zh": "全部", "en": "All"},
        "claims.empty": {"zh": "没有符合条件的理赔申请。", "en": "No claims here."},
        "claims.filed_on": {"zh": "申请日期", "en": "Filed on"},
        "claims.holder": {"zh": "持卡人", "en": "Holder"},
        "claims.status": {"zh": "状态", "en": "Status"},
        "claims.age": {"zh": "办理天数", "en": "Age"},
        "claims.days": {"zh": "{days} 天", "en": "{days} days"},
        "claims.payable": {"zh": "核定金额（元）", "en": "Payable (yuan)"},
        "claims.open": {"zh": "查看", "en": "Open"},
        "claims.total": {"zh": "共 {total} 件", "en": "{total} in all"},
        "claim_status.submitted": {"zh": "待审核", "en": "Submitted"},
        "claim_status.approved": {"zh": "已核准待支付", "en": "Approved"},
        "claim_status.rejected": {"zh": "已驳回", "en": "Rejected"},
        "claim_status.paid": {"zh": "已支付", "en": "Paid"},
        "claim_status.withdrawn": {"zh": "已撤回", "en": "Withdrawn"},
        "claim.title": {"zh": "理赔申请", "en": "Claim"},
        "claim.back": {"zh": "返回理赔队列", "en": "Back to the claims queue"},
        "claim.hospital": {"zh": "就诊医院", "en": "Hospital"},
        "claim.treatment_date": {"zh": "就诊日期", "en": "Treatment date"},
        "claim.invoice": {"zh": "发票号", "en": "Invoice"},
        "claim.window": {"zh": "停用期间", "en": "Suspension window"},
        "claim.window_open": {"zh": "申请时尚未结束", "en": "still open at filing"},
        "claim.bill_total": {"zh": "票据总额（元）", "en": "Bill total (yuan)"},
        "claim.bill_in_scope": {"zh": "政策范围内（元）", "en": "In scope (yuan)"},
        "claim.bill_self_paid": {"zh": "全自费（元）", "en": "Fully self-paid (yuan)"},
        "claim.documents": {"zh": "材料", "en": "Documents"},
        "claim.reason": {"zh": "驳回理由", "en": "Reason"},
        "claim.explanation": {"zh": "告知持卡人的说明", "en": "What the holder is told"},
        "claim.payment_reference": {"zh": "支付凭证号", "en": "Payment reference"},
        "claim.computation": {"zh": "核算过程", "en": "Computation"},
        "claim.no_computation": {
            "zh": "核准时按当年起付线、报销比例和年度限额核算。",
            "en": "Computed on approval, on the year's deductible, ratio and cap.",
        },
        "claim.payable": {"zh": "应付金额（元）", "en": "Payable (yuan)"},
        "claim.decide": {"zh": "审核", "en": "Decide"},
        "claim.approve_help": {
            "zh": "核准后按当年政策计算应付金额。",
            "en": "Approval computes the payable amount on the year's policy.",
        },
        "claim.approve": {"zh": "核准", "en": "Approve"},
        "claim.reject": {"zh": "驳回", "en": "Reject"},
        "claim.pay": {"zh": "登记支付", "en": "Record payment"},
        "claim.steps": {"zh": "办理记录", "en": "Steps"},
        "rejection.documents_not_genuine": {"zh": "材料不真实", "en": "Documents not genuine"},
        "rejection.documents_illegible": {"zh": "材料无法辨认", "en": "Documents illegible"},
        "rejection.bill_mismatch": {"zh": "费用清单与金额不符", "en": "Bill mismatch"},
        "rejection.out_of_policy_scope": {"zh": "不属于政策范围", "en": "Out of policy scope"},
        "rejection.settled_elsewhere": {"zh": "已由其他渠道报销", "en": "Settled elsewhere"},
        "rejection.other": {"zh": "其他", "en": "Other"},
        # The auditor's checks, the production centre's batches, the lifecycle charts.
        "menu.verify": {"zh": "数据核验", "en": "Verification"},
        "menu.production": {"zh": "制卡批次上传", "en": "Production batch upload"},
        "menu.analytics": {"zh": "业务时效分析", "en": "Lifecycle analytics"},
        "verify.help": {
            "zh": "核验各读模型与从事件存储重建的结果是否一致，以及哈希链是否完整。"
            "每次核验都会读取全部数据，耗时较长。",
            "en": "Check that every read model equals its rebuild from the store, and that the "
            "hash chains hold. Each run reads everything and takes a while.",
        },
        "verify.wait": {
            "zh": "等待中继与消费者追上的秒数（最多 {most}）",
            "en": "Seconds to wait for the relay and consumers (at most {most})",
        },
        "verify.run_views": {"zh": "核验读模型", "en": "Verify the views"},
        "verify.chain_help": {
            "zh": "逐条核对每个事件流的哈希链和全局日志顺序。",
            "en": "Check every stream's hash chain and the whole log's order.",
        },
        "verify.run_chain": {"zh": "核验哈希链", "en": "Verify the hash chain"},
        "verify.views_equal": {
            "zh": "全部读模型与重建结果一致",
            "en": "Every view equals its rebuild",
        },
        "verify.views_different": {
            "zh": "存在与重建结果不一致的读模型",
            "en": "Some views differ from their rebuild",
        },
        "verify.view": {"zh": "读模型", "en": "View"},
        "verify.table": {"zh": "数据表", "en": "Table"},
        "verify.verdict": {"zh": "结论", "en": "Verdict"},
        "verify.live_rows": {"zh": "在线行数", "en": "Live rows"},
        "verify.rebuilt_rows": {"zh": "重建行数", "en": "Rebuilt rows"},
        "verify.differences": {"zh": "差异", "en": "Differences"},
        "verify.difference_count": {"zh": "共 {count} 处，前几处：", "en": "{count}, the first:"},
        "verify.equal": {"zh": "一致", "en": "equal"},
        "verify.different": {"zh": "不一致", "en": "DIFFERENT"},
        "verify.lag": {"zh": "消费者落后 {count} 条消息", "en": "consumer {count} messages behind"},
        "verify.chain_intact": {"zh": "哈希链完整", "en": "The hash chain is intact"},
        "verify.chain_broken": {"zh": "哈希链断裂", "en": "The hash chain is broken"},
        "verify.records": {"zh": "记录数", "en": "Records"},
        "verify.streams": {"zh": "事件流数", "en": "Streams"},
        "verify.unlinked": {"zh": "未链接记录", "en": "Unlinked records"},
        "verify.audited": {"zh": "已核对日志位置", "en": "Log positions audited"},
        "verify.added": {"zh": "本次新核对的日志位置", "en": "Audited first by this run"},
        "verify.head": {"zh": "锚点（位置:摘要）", "en": "Anchor (position:digest)"},
        "verify.first_break": {"zh": "最早的断点", "en": "The first breaks"},
        "verify.position": {"zh": "日志位置", "en": "Log position"},
        "verify.what": {"zh": "问题", "en": "What"},
        "production.file": {"zh": "批次文件（CSV）", "en": "Batch file (CSV)"},
        "production.format": {
            "zh": "表头 certificate,new_card_number,produced_at；每次上传不超过 {kib} KiB"
            "（单个批次最多 {rows} 行，更大的批次请拆分或使用 sscard production batch）。",
            "en": "Header certificate,new_card_number,produced_at; at most {kib} KiB an upload "
            "(a batch holds at most {rows} rows: split larger ones, or use sscard production "
            "batch).",
        },
        "production.batch_id": {"zh": "批次号（可选）", "en": "Batch id (optional)"},
        "production.send": {"zh": "上传并登记", "en": "Upload and record"},
        "production.summary": {
            "zh": "{file}：共 {rows} 行，新登记 {recorded}，此前已登记 {already}，拒绝 {refused}",
            "en": "{file}: {rows} rows, {recorded} recorded, {already} already recorded, "
            "{refused} refused",
        },
        "production.some_refused": {
            "zh": "部分行被拒绝；其余行已登记。修正后可重新上传整个文件，已登记的行不会重复登记。",
            "en": "Some rows were refused; the others are recorded. Fix them and send the whole "
            "file again: rows on record are not recorded twice.",
        },
        "production.line": {"zh": "行号", "en": "Line"},
        "production.result": {"zh": "结果", "en": "Result"},
        "production.message": {"zh": "说明", "en": "Message"},
        "row.recorded": {"zh": "已登记", "en": "recorded"},
        "row.already_recorded": {"zh": "此前已登记", "en": "already recorded"},
        "row.refused": {"zh": "拒绝", "en": "refused"},
        "analytics.month": {"zh": "月份", "en": "Month"},
        "analytics.show": {"zh": "查看", "en": "Show"},
        "analytics.all_outlets": {"zh": "全部网点", "en": "all outlets"},
        "analytics.empty": {"zh": "尚无补卡业务数据。", "en": "No replacement case yet."},
        "analytics.sla_outlets": {
            "zh": "{month} 各网点制卡时限达标率",
            "en": "Production SLA hit rate per outlet, {month}",
        },
        "analytics.sla_months": {
            "zh": "逐月制卡时限达标率（{outlet}）",
            "en": "Production SLA hit rate per month ({outlet})",
        },
        "analytics.sla_help": {
            "zh": "已制卡业务中按期（受理时承诺的应制卡日期内）完成的比例，"
            "按受理网点和受理月份统计。",
            "en": "Of the cases produced, the share produced by the due date promised at "
            "application; by the outlet and month of the application.",
        },
        "analytics.worst": {
            "zh": "图中为达标率最低的 {shown} 个网点（共 {total} 个），表格列出全部。",
            "en": "The chart shows the {shown} lowest of {total} outlets; the table lists all.",
        },
        "analytics.stages": {"zh": "{month} 各环节用时", "en": "Stage durations, {month}"},
        "analytics.stages_help": {
            "zh": "各环节用时的中位数（p50）与 90 分位数（p90），单位为自然日。",
            "en": "Median (p50) and 90th percentile (p90) of each stage, in calendar days.",
        },
        "analytics.cases": {"zh": "受理数", "en": "Cases"},
        "analytics.produced": {"zh": "已制卡", "en": "Produced"},
        "analytics.met": {"zh": "按期", "en": "On time"},
        "analytics.hit_rate": {"zh": "达标率", "en": "Hit rate"},
        "analytics.stage": {"zh": "环节", "en": "Stage"},
        "analytics.days": {"zh": "天", "en": "days"},
        "stage.pre_report_to_application": {
            "zh": "预挂失→正式挂失",
            "en": "Pre-report → application",
        },
        "stage.application_to_production": {"zh": "受理→制卡", "en": "Application → production"},
        "stage.production_to_collection": {"zh": "制卡→领卡", "en": "Production → collection"},
        "stage.collection_to_activation": {"zh": "领卡→启用", "en": "Collection → activation"},
        "refusal.title": {"zh": "无法办理", "en": "Not done"},
        "refusal.forbidden": {
            "zh": "您的角色无权进行此操作：{reason}",
            "en": "Your role may not do this: {reason}",
        },
        "refusal.not_found": {"zh": "未找到：{reason}", "en": "Not found: {reason}"},
        "refusal.rules": {
            "zh": "业务规则不允许，未做任何记录：{reason}",
            "en": "Refused by the rules; nothing was recorded: {reason}",
        },
        "refusal.invalid": {"zh": "输入有误：{reason}", "en": "Bad input: {reason}"},
        "refusal.csrf": {
            "zh": "表单已失效或来源不明，未做任何记录。请返回页面重新提交。",
            "en": "The form is stale or did not come from this console; nothing was recorded. "
            "Go back and submit it again.",
        },
        "refusal.no_page": {"zh": "没有这个页面。", "en": "There is no such page."},
        "refusal.unavailable": {
            "zh": "系统暂时无法响应，请稍后再试。",
            "en": "The back office did not answer; try again shortly.",
        },
        "refusal.internal": {
            "zh": "系统内部错误，请联系管理员并提供请求编号 {request_id}。",
            "en": "An internal error; quote request id {request_id} to the operators.",
        },
        "refusal.code": {"zh": "错误代码", "en": "Code"},
        "refusal.back": {"zh": "返回", "en": "Back"},
    }
)


class Translator:
    """The catalogue in one language, for a page: ``t("key", name=value)``."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def __call__(self, key: str, **fields: object) -> str:
        text = MESSAGES[key][self.language]
        return text.format(**fields) if fields else text


def language_of(request: Request) -> Language:
    """The language asked for in the query, else the one kept in the cookie, else Chinese."""
    for asked in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in LANGUAGES:
            return asked
    return DEFAULT_LANGUAGE


def local_time(at: datetime | str | None) -> str:
    """An instant as people here read it: Beijing time, to the minute."""
    if at is None:
        return ""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def filters() -> dict[str, Callable[..., str]]:
    return {"local_time": local_time}
