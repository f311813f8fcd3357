from __future__ import annotations

from collections.abc import Callable

from incidents.hooks import Hook


def test_receivers_run_in_order_once_each_and_can_be_disconnected():
    hook: Hook[Callable[[list[str]], None]] = Hook("example")
    first = hook.connect(lambda seen: seen.append("first"))

    @hook.connect
    def second(seen: list[str]) -> None:
        seen.append("second")

    hook.connect(first)  # connecting again changes nothing
    seen: list[str] = []
    for receiver in hook:
        receiver(seen)
    assert seen == ["first", "second"]
    hook.disconnect(first)
    assert list(hook) == [second]
