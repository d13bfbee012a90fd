"""Requests sent at the same moment, for the tests of what must hold when they race."""

import threading


def at_once(calls, timeout=60):
    """Run the no-argument callables `calls` in threads released together by a barrier;
    returns their results in order (re-raises the first exception of a call)."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    errors = []

    def run(index, call):
        barrier.wait(timeout)
        try:
            results[index] = call()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    return results
