"""The CLI's progress without a terminal: plain lines a log file can show (click draws nothing there)."""
import io

from clave_lite.cli.app import Bars


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_lines_every_interval_with_eta_when_not_a_terminal(monkeypatch):
    monkeypatch.setenv("CLAVE_LITE_PROGRESS_INTERVAL", "30")
    out, clock = io.StringIO(), Clock()
    bars = Bars(stream=out, clock=clock, tty=False)
    bars.start("reading 100 texts", 100)
    for _ in range(10):  # 10 steps in 20 s: no line yet
        clock.t += 2
        bars.advance()
    assert out.getvalue().splitlines() == ["reading 100 texts: 0/100"]
    clock.t += 10  # 30 s, 11 done: a line, ETA from the rate so far
    bars.advance(status="loss 0.31")
    clock.t += 5
    bars.advance(89)
    bars.finish()
    assert out.getvalue().splitlines() == [
        "reading 100 texts: 0/100",
        "reading 100 texts (loss 0.31): 11/100 (11 %), 30s elapsed, ETA 4m03s",
        "reading 100 texts (loss 0.31): done, 100/100 in 35s",
    ]
    bars.finish()  # a second finish (start() of the next stage calls it) adds nothing
    assert len(out.getvalue().splitlines()) == 3


def test_a_terminal_gets_click_bar_not_lines():
    out = io.StringIO()
    bars = Bars(stream=out, clock=Clock(), tty=True)
    bars.start("fitting", 3)
    bars.advance(3)
    bars.finish()
    assert "done," not in out.getvalue() and "0/3\n" not in out.getvalue()
