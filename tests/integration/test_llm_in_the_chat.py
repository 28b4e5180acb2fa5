"""The OpenAI-compatible coach wired by bootstrap (LLM_BASE_URL set) under the real chat use case.

The adapter's own behaviour is in test_llm_openai_compatible.py; this proves the contract holds
end to end: a provider's reply is stored and charged; a provider that fails costs nothing and
leaves no hold; a stream that breaks half-way is stored cut short and charged for what came.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from adapters.llm.openai_compatible import OpenAICompatibleCoach
from domain.coaching.errors import CoachUnavailable
from domain.coaching.services.chat import Delta, Done
from domain.ledger.model import GrantSource
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.openai_server import DEFAULT_TEXT, FakeOpenAI, Step, words
from tests.fixtures.settings import make_settings, unique

FUNDS = 100_000


@dataclass
class Chat:
    container: Container
    user_id: str
    session_id: str
    funds: int  # the purchase and the free plan's monthly credits

    def balance(self) -> tuple[int, int]:
        view = self.container.ledger.balance(self.user_id)
        return view.balance, view.held


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def chat(fake: FakeOpenAI) -> Chat:
    settings = make_settings(
        llm_base_url=fake.base_url, llm_api_key="sk-wiring-test", llm_max_retries=0, llm_timeout=2.0
    )
    container = bootstrap(settings)
    assert isinstance(container.coach_model, OpenAICompatibleCoach)
    coaching = container.coaching
    assert coaching is not None
    user = container.identity.register(f"{unique('coach')}@example.com", "password-123")
    container.ledger.grant(user.user.id, source=GrantSource.PURCHASE, amount=FUNDS, idempotency_key=unique("funds"))
    workspace = coaching.create_workspace(user.user.id, name="Acme")
    session = coaching.create_session(user.user.id, workspace.id)
    return Chat(container, user.user.id, session.id, container.ledger.balance(user.user.id).balance)


def test_a_provider_reply_is_stored_with_its_usage_and_charged(chat: Chat, fake: FakeOpenAI) -> None:

    exchange = chat.container.coaching.send_message(chat.user_id, chat.session_id, "How do I start?")

    answer = exchange.assistant_message
    assert (answer.content, answer.model, answer.tokens_in, answer.tokens_out) == (DEFAULT_TEXT, "fake-model-1", 11, 7)
    assert exchange.credits_charged > 0
    assert chat.balance() == (chat.funds - exchange.credits_charged, 0)
    assert fake.requests[0].headers["authorization"] == "Bearer sk-wiring-test"
    assert fake.requests[0].body["messages"][-1] == {"role": "user", "content": "How do I start?"}


def test_a_failing_provider_costs_nothing_and_leaves_no_hold(chat: Chat, fake: FakeOpenAI) -> None:
    fake.script(Step(status=500))

    with pytest.raises(CoachUnavailable):
        chat.container.coaching.send_message(chat.user_id, chat.session_id, "How do I start?")

    assert chat.balance() == (chat.funds, 0)
    assert chat.container.coaching.get_session(chat.user_id, chat.session_id).messages.items == []


def test_a_stream_that_breaks_half_way_is_stored_cut_short_and_charged_for_what_came(
    chat: Chat, fake: FakeOpenAI
) -> None:
    fake.script(Step(drop_after=4))

    events = list(chat.container.coaching.stream_message(chat.user_id, chat.session_id, "How do I start?"))

    deltas = [event.text for event in events if isinstance(event, Delta)]
    assert deltas == list(words(DEFAULT_TEXT)[:4])
    done = events[-1]
    assert isinstance(done, Done)
    answer = done.exchange.assistant_message
    assert answer.content == "".join(deltas)
    assert answer.cut_short is True
    assert 0 < done.exchange.credits_charged
    assert chat.balance() == (chat.funds - done.exchange.credits_charged, 0)
