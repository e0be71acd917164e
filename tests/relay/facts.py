"""The realistic record of the golden tests and the benchmark: 市财政局, 2026年秋粮收购政策解读."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from liuan_bot.clock import SHANGHAI
from liuan_bot.relay import ReleaseFacts

ROOT = Path(__file__).resolve().parents[2]
CHANNELS_PATH = ROOT / "config" / "channels.toml"

KEY_POINTS = (
    "今年我市秋粮收购从10月1日开始，至2027年3月31日结束。"
    "中晚籼稻最低收购价为每斤1.26元，与去年持平；粳稻最低收购价为每斤1.31元。"
    "市财政局会同市发展改革委安排收购资金贷款贴息和仓储费用补助共计1.2亿元，"
    "确保农民交售粮食及时拿到现金，不打白条。\n"
    "全市设立秋粮收购网点186个，其中霍邱县、舒城县网点数量最多。"
    "各收购网点须在醒目位置张贴收购价格、质量标准和举报电话，做到明码标价、公开收购。"
    "今年首次推行“线上预约、错峰售粮”，农民可通过“皖事通”预约交售时间，减少排队等候。"
    "收购高峰期间，各网点每天7:00至19:00开秤收购，节假日不停收。\n"
    "对种粮大户和家庭农场实行优质优价，优质稻谷每斤加价不低于0.05元。"
    "市财政局将加强收购资金监管，严禁挤占挪用，确保补助资金足额及时兑付到位。"
    "售粮中遇到压级压价、拖欠粮款等问题，可拨打12345热线反映。"
)

GOLDEN = ReleaseFacts(
    record_id="SQ-2026-0031",
    topic="2026年秋粮收购政策解读",
    unit="市财政局",
    held_at=datetime(2026, 9, 24, 10, 0, tzinfo=SHANGHAI),
    venue="市政府新闻发布厅",
    speakers=("市财政局党组书记、局长 郑学军", "市财政局党组成员、副局长 鲍克勤"),
    key_points=KEY_POINTS,
    transcript_url="https://www.luan.gov.cn/xwfb/fbh/20260924/sl.html",
    video_url="https://www.luan.gov.cn/xwfb/fbh/20260924/sp.html",
    live=True,
    expert_interpretation=(
        "安徽农业大学经济管理学院教授王立新：最低收购价稳住了种粮农民的收益预期，"
        "线上预约和优质优价两项举措让农民卖粮更省心、更划算。"
        "建议农户关注粮食质量标准，分批错峰交售。"
    ),
    directory_url="https://www.luan.gov.cn/xwfb/fyr/",
)
