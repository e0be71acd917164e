"""Pure domain rules of the notice (六宣发〔2019〕26号), R1–R24.

Imports nothing but the standard library. `now` and the working-day calendar are passed in.

Glossary (English identifier ↔ 中文术语):
unit 单位 · key unit 重点单位 · person 人员 · spokesperson 新闻发言人 · liaison 联络员 ·
main leader 主要负责人 · news office 新闻办 · disclosure office 政务公开办 ·
approver 副秘书长 · expert 专家 · channel editor 渠道编辑 · admin 管理员 ·
application 申请 · filing 备案 · incident 突发事件 · hot-issue report 舆情报告 ·
policy 政策文件 · risk assessment 风险评估 · announcement 公告 · release 发布.
"""
