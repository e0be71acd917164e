"""帮助 and 我的信息: generated from the registry and the roster."""

from __future__ import annotations

from functools import lru_cache

from handlers.context import Context
from liuan_bot.commands.grammar import normalise
from liuan_bot.commands.registry import CommandSpec, Registry
from liuan_bot.domain.members import Member
from liuan_bot.domain.roles import Role
from liuan_bot.messages import TEXT_MAX_BYTES, Reply

_HELP_TAIL = "\n\n发送“帮助 命令名”查看用法、示例和简写，例如：帮助 申请发布会"


@lru_cache(maxsize=256)
def _help_bodies(registry: Registry, roles: frozenset[Role]) -> tuple[str, int, str]:
    """The command list for a set of roles (the registry never changes once built): with
    summaries, its size in bytes with the tail, and names only. Rendering it for every 帮助
    was ~5% of the callback (issue 11 §2)."""
    specs = registry.visible_to(roles)
    full = "".join(f"\n· {spec.name}：{spec.summary}" for spec in specs) + _HELP_TAIL
    names = [spec.name for spec in specs]
    rows = "".join("\n" + "、".join(names[i : i + 6]) for i in range(0, len(names), 6))
    return full, len(full.encode()), rows + _HELP_TAIL


def render_help(registry: Registry, member: Member) -> str:
    """The commands `member` may use, one line each, with one example."""
    full, size, names_only = _help_bodies(registry, frozenset(member.roles))
    head = f"您好，{member.name}。您可以发送以下命令："
    if len(head.encode()) + size <= TEXT_MAX_BYTES:
        return head + full
    # many roles, many commands: names only, so help stays one message
    return head + names_only


def render_usage(spec: CommandSpec) -> str:
    rules = f"（依据：{'、'.join(spec.rules)}）" if spec.rules else ""
    alias = f"\n也可以发：{'、'.join(spec.aliases)}" if spec.aliases else ""
    examples = "\n\n".join(spec.example.split("\n\n"))
    return f"【{spec.name}】{spec.summary}{rules}\n用法：{spec.usage}{alias}\n示例：\n{examples}"


async def help_command(ctx: Context) -> Reply:
    """帮助 [命令名]: the commands the sender may use, or one command's usage."""
    registry, member = ctx.deps.registry, ctx.sender
    topic = normalise(ctx.args)
    if topic:
        match = registry.match(topic)
        if match is None or not match.spec.allowed(member.roles):
            return Reply.ok(f"没有找到命令“{topic}”。\n\n" + render_help(registry, member))
        return Reply.ok(render_usage(match.spec))
    return Reply.ok(render_help(registry, member))


async def whoami_command(ctx: Context) -> Reply:
    """我的信息: who the bot thinks I am (the roster as of this message, never a stale copy)."""
    m = ctx.sender
    scope = "全市各单位（新闻办/政务公开办）" if m.city_wide else f"本单位（{m.unit}）"
    key = "是" if m.key_unit else "否"
    return Reply.ok(
        f"姓名：{m.name}\n单位：{m.unit}（{m.unit_type}，重点单位：{key}）\n"
        f"职务：{m.title or '未填写'}\n角色：{m.role_names()}\n企业微信账号：{m.userid}\n"
        f"可办理事项范围：{scope}\n信息有误请联系市政府新闻办更正。"
    )


def commands_markdown(registry: Registry) -> str:
    """The README's command table, generated from the registry (one row per command)."""
    lines = ["| 命令（简写） | 谁可以用 | 做什么 | 依据 |", "|---|---|---|---|"]
    for spec in registry.specs:
        words = spec.name + (f"（{'、'.join(spec.aliases)}）" if spec.aliases else "")
        roles = (
            "所有人"
            if len(spec.roles) == len(Role)
            else "、".join(r.value for r in Role if r in spec.roles)
        )
        lines.append(f"| {words} | {roles} | {spec.summary} | {'、'.join(spec.rules) or '—'} |")
    return "\n".join(lines)
