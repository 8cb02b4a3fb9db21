"""One judge component: rubrics, jury members (LLM judges and cheap scorers), aggregation and agreement.

Curation's `judge` stage, the `judge_ranked` / `reward_ranked` preference strategies, the `llm_judge` reward and
evaluation all score answers through `Jury`.
"""
