"""The operations half of the demo project: data, gateway, traces, alerts and evals.

``seed_operations(services)`` adds to project ``demo`` what a team running an LLM app would
have after a day:

- dataset ``support-questions``: v1 is 60 hand-written support questions with expected answers
  (a few with stray spaces, duplicates and an e-mail address or phone number); v2 is v1 run
  through the quality pipeline (normalise, exact dedup, PII), so lineage and diff show
  something;
- gateway routes ``chat`` (the in-process SmolLM2, ``provider: local``) and ``embeddings``
  (all-MiniLM-L6-v2). Seeding only stores the routes, so the server starts without the
  ``local`` extra; a call then gets the gateway's clear 501;
- about 300 synthetic traces over the last two days, ingested as OTLP protobuf with GenAI
  attributes: two models, two prompt versions, some errors, varied latency and tokens; the
  last day is slower and wordier than the day before, so the drift check finds something;
- alert rule ``p95 latency`` (p95 latency above 2 s over 5 minutes);
- two finished eval experiments of suite ``support-qa`` on the dataset's v2 (``seed_eval_demo``),
  labelled ``baseline`` and ``candidate``, with canned outputs and per-item scores (no model is
  called), so ``/evals/compare?base=baseline&candidate=candidate`` draws a chart. An eval
  experiment is a tracking run: they show up in ``/runs`` under experiment
  ``eval-support-qa``, next to the training runs of ``sentiment-finetune``.

Each piece checks on its own whether it is already there, so seeding again (or over a demo
seeded by an older Podium) adds only what is missing. Numbers come from seeded generators.
"""

from __future__ import annotations

import io
import json
import random
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from podium.errors import NotFound
from podium.evals.models import ORIGINAL, ItemResult
from podium.evals.runner import item_key
from podium.gateway.models import DeploymentSpec, RouteSpec
from podium.store.clock import now_ms
from podium.tracing.alerts import RuleSpec
from podium.tracing.models import TraceFilter

if TYPE_CHECKING:  # the app imports the demo lazily; only the type is needed here
    from podium.server.app import Services

PROJECT = "demo"
ACTOR = "demo"
DATASET = "support-questions"
SUITE = "support-qa"
PROMPT = "support-assistant"
ALERT_NAME = "p95 latency"
HOUR_MS = 3_600_000
TRACES = 300
TRACE_HOURS = 48  # the day before yesterday is the drift check's reference window

# (question, expected answer): written for this demo.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("How do I reset my password?", "Use 'Forgot password' on the login page."),
    ("Can I change my username?", "Yes, under Settings > Profile."),
    ("How do I delete my account?", "Settings > Account > Delete account."),
    ("Where can I download my invoices?", "Billing > Invoices lists them as PDF."),
    ("Which payment methods do you accept?", "Credit cards, SEPA debit and PayPal."),
    ("How do I cancel my subscription?", "Billing > Plan > Cancel subscription."),
    ("Do you offer refunds?", "Yes, within 14 days of purchase."),
    ("How do I enable two-factor authentication?", "Settings > Security > Two-factor."),
    ("Can I invite my team?", "Yes, from Settings > Members > Invite."),
    ("How many members can a team have?", "Up to 50 on the Team plan."),
    ("Is there a free plan?", "Yes, for one user and three projects."),
    ("How do I upgrade my plan?", "Billing > Plan > Upgrade."),
    ("Where is my API key?", "Settings > API keys."),
    ("How do I rotate an API key?", "Create a new key, then revoke the old one."),
    ("What are the API rate limits?", "600 requests per minute per key."),
    ("Do you have a status page?", "Yes, at status.example.com."),
    ("How do I export my data?", "Settings > Data > Export as JSON."),
    ("Can I import data from a CSV file?", "Yes, Projects > Import > CSV."),
    ("What is the maximum upload size?", "100 MB per file."),
    ("Which browsers are supported?", "The latest Chrome, Firefox, Safari and Edge."),
    ("Is there a mobile app?", "Yes, for iOS and Android."),
    ("How do I change the language?", "Settings > Profile > Language."),
    ("How do I change my e-mail address?", "Settings > Profile > E-mail."),
    ("Why did I not get the confirmation e-mail?", "Check spam, then resend it from Settings."),
    ("How do I turn off notifications?", "Settings > Notifications."),
    ("Can I schedule reports?", "Yes, Reports > Schedule, daily or weekly."),
    ("How do I share a dashboard?", "Open it and press Share."),
    ("Can I make a dashboard public?", "Only on the Business plan."),
    ("Where are your servers?", "In Frankfurt and Dublin."),
    ("Are you GDPR compliant?", "Yes; the DPA is under Legal."),
    ("How long do you keep deleted data?", "30 days, then it is erased."),
    ("Can I restore a deleted project?", "Yes, from Trash within 30 days."),
    ("How do I contact support?", "Use the chat or write to support@example.com."),
    ("What are your support hours?", "Monday to Friday, 8:00 to 18:00 CET."),
    ("Do you offer phone support?", "On the Business plan."),
    ("How do I add a custom domain?", "Settings > Domains > Add domain."),
    ("Why is my custom domain not working?", "Check the CNAME record; DNS can take a day."),
    ("Can I use single sign-on?", "Yes, SAML and OIDC on the Business plan."),
    ("How do I connect Slack?", "Integrations > Slack > Connect."),
    ("Is there a webhook for new orders?", "Yes, Integrations > Webhooks > order.created."),
    ("How do I test a webhook?", "Press 'Send test event' on the webhook."),
    ("Can I pause my subscription?", "Yes, for up to three months."),
    ("Do you have student discounts?", "Yes, 50% with a valid student e-mail."),
    ("How do I apply a coupon?", "Billing > Plan > Add coupon."),
    ("Why was my card declined?", "Your bank refused it; try another card or call the bank."),
    ("Can I get an invoice with my VAT number?", "Add it under Billing > Details."),
    ("How do I change my billing address?", "Billing > Details > Address."),
    ("What happens when my trial ends?", "You move to the free plan unless you upgrade."),
    ("Can I have two accounts?", "Yes, with two e-mail addresses."),
    ("How do I log out of all devices?", "Settings > Security > Log out everywhere."),
    ("Is my data encrypted?", "Yes, in transit and at rest."),
    ("Do you have an affiliate program?", "Yes, 20% for the first year."),
)
# Rows that the quality pipeline has work on: stray spaces (normalise), exact repeats (dedup)
# and personal data (pii). With QUESTIONS these make the 60 rows of v1.
MESSY: tuple[tuple[str, str], ...] = (
    ("How do I reset   my password?", "Use 'Forgot password' on the login page."),
    ("Where is my API key?", "Settings > API keys."),
    ("Is there a free plan?", "Yes, for one user and three projects."),
    ("Do you offer refunds?", "Yes, within 14 days of purchase."),
    ("My login is jane.doe@example.com, can you unlock it?", "Yes; we sent an unlock link."),
    ("Please call me back on +1 415 555 0132.", "Support does not call back; use the chat."),
    ("Can I change my   username?", "Yes, under Settings > Profile."),
    ("Send the invoice to bob@example.org please.", "Billing > Invoices > Send by e-mail."),
)
PIPELINE = (
    {"name": "normalise"},
    {"name": "exact_dedup", "params": {"on": "input"}},
    {"name": "pii", "params": {"kinds": ["email", "phone"]}},
)

ROUTES = {
    "chat": RouteSpec(
        deployments=(
            DeploymentSpec(name="local", provider="local", model="smollm2-135m-instruct"),
        ),
    ),
    "embeddings": RouteSpec(
        deployments=(DeploymentSpec(name="local", provider="local", model="all-minilm-l6-v2"),),
    ),
}


def seed_operations(services: Services) -> None:
    """Seed every missing piece: dataset, prompt, gateway routes, traces, alert rule and the
    two eval experiments."""
    _seed_dataset(services)
    _seed_prompt(services)
    _seed_routes(services)
    _seed_traces(services)
    _seed_alert(services)
    seed_eval_demo(services)


# -- data ------------------------------------------------------------------------------------


def _seed_dataset(services: Services) -> None:
    """v1 imported from JSONL, v2 produced by the quality pipeline."""
    data = services.data
    try:
        dataset = data.get_dataset(PROJECT, DATASET)
    except NotFound:
        rows = [{"input": q, "expected": a} for q, a in (*QUESTIONS, *MESSY)]
        body = "".join(json.dumps(row) + "\n" for row in rows).encode()
        data.import_rows(
            PROJECT,
            DATASET,
            io.BytesIO(body),
            "jsonl",
            message="Questions collected from the support inbox",
            description="Customer support questions with the answers an agent gave.",
            actor=ACTOR,
        )
        dataset = data.get_dataset(PROJECT, DATASET)
    if dataset.latest_version < 2:
        data.clean(
            PROJECT, DATASET, PIPELINE, version=1, message="Clean for evaluation", actor=ACTOR
        )


# -- prompt ----------------------------------------------------------------------------------


def _seed_prompt(services: Services) -> None:
    """``support-assistant``: v1 in production, v2 (shorter answers) in staging."""
    prompts = services.prompts
    try:
        prompts.get_by_label(PROJECT, PROMPT, "production")
        return
    except NotFound:
        pass
    variables: list[dict[str, Any]] = [
        {"name": "product", "type": "string", "default": "Acme Cloud"},
    ]
    system = "You are the support assistant of {{ product }}. Answer the customer's question."
    prompts.create_prompt(
        PROJECT,
        PROMPT,
        messages=[{"role": "system", "content": system}],
        variables=variables,
        model_params={"model": "smollm2-135m-instruct", "temperature": 0.2, "max_tokens": 128},
        message="First version",
        labels=["production"],
        actor=ACTOR,
    )
    prompts.push_version(
        PROJECT,
        PROMPT,
        messages=[
            {
                "role": "system",
                "content": system + " Name the menu path (Settings > ...) when there is one.",
            }
        ],
        variables=variables,
        model_params={"model": "smollm2-135m-instruct", "temperature": 0.2, "max_tokens": 128},
        message="Point to the menu path",
        labels=["staging"],
        actor=ACTOR,
    )


# -- gateway ---------------------------------------------------------------------------------


def _seed_routes(services: Services) -> None:
    """Store the routes; an unchanged route records nothing, so this is always safe."""
    for name, spec in ROUTES.items():
        services.gateway.service.put_route(PROJECT, name, spec, actor=ACTOR)


# -- traces ----------------------------------------------------------------------------------


def _seed_traces(services: Services) -> None:
    """One OTLP request with a trace every ~10 minutes over the last two days."""
    if services.tracing.list_traces(PROJECT, TraceFilter(), 0, 1):
        return
    services.tracing.ingest(PROJECT, build_traces(now_ms()))


def build_traces(now: int) -> ExportTraceServiceRequest:
    """The demo's traces as an OTLP request: a ``support-chat`` root span with a ``chat`` LLM
    child per trace. Deterministic for a given ``now``."""
    rng = random.Random("demo-traces")  # noqa: S311 - demo data, not security
    spans: list[Span] = []
    step = TRACE_HOURS * HOUR_MS // TRACES
    for i in range(TRACES):
        start = now - TRACE_HOURS * HOUR_MS + i * step + rng.randrange(step // 2)
        recent = start > now - 24 * HOUR_MS
        # The last day: prompt v2 goes out, answers get longer and slower (what drift finds).
        prompt_version = 2 if recent and rng.random() < 0.7 else 1
        model = "gpt-4o-mini" if rng.random() < 0.35 else "smollm2-135m-instruct"
        question, answer = QUESTIONS[rng.randrange(len(QUESTIONS))]
        input_tokens = 40 + len(question) // 4 + rng.randrange(30)
        output_tokens = int(rng.lognormvariate(3.4 if recent else 3.0, 0.4))
        latency = int(rng.lognormvariate(6.6 if recent else 6.3, 0.45))
        if i % 37 == 0:  # now and then a very slow call, so p95 has a tail
            latency *= 5
        failed = rng.random() < 0.04
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        root_id = rng.getrandbits(64).to_bytes(8, "big")
        llm_id = rng.getrandbits(64).to_bytes(8, "big")
        status = (
            Status(code=Status.STATUS_CODE_ERROR, message="upstream timed out")
            if failed
            else Status(code=Status.STATUS_CODE_OK)
        )
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=root_id,
                name="support-chat",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=start * 1_000_000,
                end_time_unix_nano=(start + latency + 15) * 1_000_000,
                attributes=_attributes(
                    {"session.id": f"session-{i // 3}", "user.id": f"user-{i % 23}"}
                ),
                status=status,
            )
        )
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=llm_id,
                parent_span_id=root_id,
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=(start + 5) * 1_000_000,
                end_time_unix_nano=(start + 5 + latency) * 1_000_000,
                attributes=_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai" if model.startswith("gpt") else "local",
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": input_tokens,
                        "gen_ai.usage.output_tokens": 0 if failed else output_tokens,
                        "gen_ai.prompt": question,
                        "gen_ai.completion": "" if failed else _answer(answer, prompt_version),
                        "podium.prompt.name": PROMPT,
                        "podium.prompt.version": prompt_version,
                    }
                ),
                status=status,
            )
        )
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource.resource.attributes.extend(_attributes({"service.name": "support-bot"}))
    return ExportTraceServiceRequest(resource_spans=[resource])


def _answer(answer: str, prompt_version: int) -> str:
    """What the bot said: prompt v2 makes it chattier (what the drift check's lengths see)."""
    if prompt_version == 1:
        return answer
    return f"Thanks for asking! {answer} Is there anything else I can help you with today?"


def _attributes(values: dict[str, str | int]) -> list[KeyValue]:
    """OTLP key-values for ``values``."""
    return [
        KeyValue(
            key=key,
            value=AnyValue(int_value=value)
            if isinstance(value, int)
            else AnyValue(string_value=value),
        )
        for key, value in values.items()
    ]


# -- alerts ----------------------------------------------------------------------------------


def _seed_alert(services: Services) -> None:
    """Warn when p95 latency stays above 2 s over five minutes."""
    if any(rule.spec.name == ALERT_NAME for rule in services.alerts.list_rules(PROJECT)):
        return
    services.alerts.create_rule(
        PROJECT,
        RuleSpec(
            name=ALERT_NAME,
            metric="p95_latency_ms",
            window_s=300,
            comparator=">",
            threshold=2000.0,
        ),
        ACTOR,
    )


# -- evals -----------------------------------------------------------------------------------


def seed_eval_demo(services: Services) -> None:
    """A baseline (prompt v1) and a candidate (prompt v2) experiment on the dataset's v2
    (seeding the dataset first when needed), each skipped when the suite already has an
    experiment with its label. The outputs are canned (no model is called), so this is fast
    and works offline. An experiment left unfinished by an interrupted seeding is resumed by
    ``start_experiment`` (same target hash) and completed."""
    _seed_dataset(services)
    evals = services.evals
    version = services.data.get_version(PROJECT, DATASET, 2)
    rows = services.data.rows(PROJECT, DATASET, version.version, limit=1000)
    for label, prompt_version, skill in (("baseline", 1, 0.62), ("candidate", 2, 0.78)):
        if evals.list_experiments(PROJECT, suite=SUITE, label=label, limit=1):
            continue
        target = f"route:chat prompt:{PROMPT}@{prompt_version}"
        experiment, _ = evals.start_experiment(
            PROJECT,
            suite=SUITE,
            target=target,
            target_hash=f"demo-{label}",
            dataset=DATASET,
            dataset_version=version.version,
            scorers={"exact_match": True, "answer_relevance": True},
            prompt=PROMPT,
            prompt_version=prompt_version,
            user=ACTOR,
        )
        rng = random.Random(f"demo-eval-{label}")  # noqa: S311 - demo data
        items = []
        for position, row in enumerate(rows):
            question, expected = row.input, row.expected or ""
            correct = rng.random() < skill
            item = {
                "input": question,
                "expected": row.expected,
                "metadata": row.metadata,
                "variant": ORIGINAL,
            }
            items.append(
                ItemResult(
                    key=item_key(item),
                    position=position,
                    variant=ORIGINAL,
                    group=None,
                    input=question,
                    expected=expected,
                    output=expected if correct else "I am not sure; please contact support.",
                    error=None,
                    latency_ms=round(rng.uniform(300, 1500), 1),
                    cost=0.0,
                    scores={
                        "exact_match": 1.0 if correct else 0.0,
                        "answer_relevance": round(
                            min(1.0, max(0.0, rng.gauss(skill + 0.1, 0.12))), 3
                        ),
                    },
                )
            )
        evals.add_items(PROJECT, experiment.id, items)
        evals.finish(PROJECT, experiment.id)
        evals.set_label(PROJECT, experiment.id, label)


__all__ = ["build_traces", "seed_eval_demo", "seed_operations"]
