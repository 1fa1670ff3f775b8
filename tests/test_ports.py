"""utils.ports.wait_until_answers: a slow first answer is waited for, through no proxy; a dead server is not."""

from __future__ import annotations

import http.server
import threading
import time

from mgd_sam2.utils.ports import free_port, wait_until_answers


class SlowFirstAnswer(http.server.BaseHTTPRequestHandler):
    delay_s = 0.0  # the first answer's delay; the test sets it

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        time.sleep(SlowFirstAnswer.delay_s)
        SlowFirstAnswer.delay_s = 0.0
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_slow_first_answer_is_waited_for_even_with_a_dead_proxy_set(monkeypatch) -> None:
    monkeypatch.setattr(SlowFirstAnswer, "delay_s", 4.0)  # longer than Gradio's 3-s start-up check
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there: through it, every request fails
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), SlowFirstAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.perf_counter()
        assert wait_until_answers(f"http://127.0.0.1:{server.server_address[1]}/", limit_s=30)
        assert time.perf_counter() - started >= 4.0
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_or_is_gone_is_not_waited_for_past_the_limit() -> None:
    url = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    started = time.perf_counter()
    assert not wait_until_answers(url, limit_s=1.0)
    assert 1.0 <= time.perf_counter() - started < 10
    started = time.perf_counter()
    assert not wait_until_answers(url, limit_s=60, starting=lambda: False)
    assert time.perf_counter() - started < 10
