"""core.sequences.next_number: consecutive numbers per series, given back on rollback, and
no duplicates or gaps under concurrent allocation (SQLite's driver reads outside the write
transaction, so a counter read first and written later was handed out twice there)."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from core.db import session_scope
from core.sequences import Sequence, next_number, next_numbers

pytestmark = pytest.mark.postgres


def take(engine, series: str) -> int:
    with session_scope(engine) as session:
        return next_number(session, series)


def at_once(threads_count: int, work) -> None:
    """Run work(i) on `threads_count` threads released together; fail with what any raised
    (a thread's exception is otherwise lost)."""
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_numbers_are_consecutive_per_series_and_series_are_independent(engine):
    assert [take(engine, "a") for _ in range(3)] == [1, 2, 3]
    assert take(engine, "b") == 1
    assert take(engine, "a") == 4
    with session_scope(engine) as session:                  # several in one transaction
        assert [next_number(session, "b") for _ in range(3)] == [2, 3, 4]
        assert next_number(session, "c") == 1
    with session_scope(engine) as session:
        assert {row.series: row.last for row in session.exec(select(Sequence))} == {"a": 4, "b": 4, "c": 1}


def test_a_rolled_back_number_is_given_back(engine):
    assert take(engine, "a") == 1
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            assert next_number(session, "a") == 2
            raise RuntimeError("the document failed")
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:             # the first use of a series, rolled back
            assert next_number(session, "new") == 1
            raise RuntimeError("the document failed")
    assert take(engine, "a") == 2
    assert take(engine, "new") == 1


@pytest.mark.parametrize("first_use", [True, False], ids=["racing-first-use", "existing-series"])
def test_concurrent_allocation_has_no_duplicates_or_gaps(engine, first_use):
    threads_count, per_thread = 8, 25
    if not first_use:
        assert take(engine, "q") == 1
    taken: list[list[int]] = [[] for _ in range(threads_count)]

    def work(i: int) -> None:
        for _ in range(per_thread):
            taken[i].append(take(engine, "q"))

    at_once(threads_count, work)
    numbers = sorted(n for each in taken for n in each)
    offset = 0 if first_use else 1
    assert numbers == list(range(1 + offset, threads_count * per_thread + 1 + offset))
    assert all(each == sorted(each) for each in taken)      # each thread sees its numbers rise
    with session_scope(engine) as session:
        assert session.get(Sequence, "q").last == threads_count * per_thread + offset


def test_several_series_advance_together_in_the_order_asked(engine):
    assert take(engine, "b") == 1
    with session_scope(engine) as session:
        assert next_numbers(session, "b", "a") == [2, 1]          # "a" used first here
        assert next_numbers(session, "a", "b") == [2, 3]
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            assert next_numbers(session, "a", "b") == [3, 4]
            raise RuntimeError("the order failed")
    assert [take(engine, "a"), take(engine, "b")] == [3, 4]


def test_concurrent_pairs_and_singles_have_no_duplicates_gaps_or_deadlocks(engine):
    """Transactions taking both counters (as a new order) beside ones taking one (a change)."""
    assert take(engine, "order-x") == 1 and take(engine, "changes") == 1
    threads_count, per_thread = 8, 20
    taken: dict[str, list[int]] = {"order-x": [], "changes": []}

    def work(i: int) -> None:
        for _ in range(per_thread):
            with session_scope(engine) as session:
                if i % 2:
                    taken["changes"].append(next_number(session, "changes"))
                else:
                    number, change = next_numbers(session, "order-x", "changes")
                    taken["order-x"].append(number)
                    taken["changes"].append(change)

    at_once(threads_count, work)
    assert sorted(taken["order-x"]) == list(range(2, threads_count // 2 * per_thread + 2))
    assert sorted(taken["changes"]) == list(range(2, threads_count * per_thread + 2))
