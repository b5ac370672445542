// Progress of a long copy (converting, uploading a multi-GB checkpoint) on a terminal: bytes
// done of the total, the rate and the time left, one line of stderr redrawn in place at most a
// few times a second. Not a TTY (CI, a pipe): nothing at all, so logs stay as they were.

/** The part of process.stderr a progress line needs. */
export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

/** Redraws at most 4 times a second: readable, and a negligible cost per chunk. */
const REDRAW_MS = 250;
const CLEAR = "\r\x1b[K"; // carriage return, then erase to the end of the line

export class Progress {
  private done = 0;
  private drawn = -Infinity; // when the line was last drawn (ms)
  private readonly t0: number;
  private readonly live: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.live = !!stream.isTTY;
    this.t0 = now();
  }

  /** Counts `bytes` more as done; redraws if the last draw is old enough. */
  add(bytes: number): void {
    this.done += bytes;
    if (!this.live) return;
    const t = this.now();
    if (t - this.drawn < REDRAW_MS) return;
    this.drawn = t;
    this.stream.write(CLEAR + this.line(t));
  }

  /** A log function that first clears the progress line (the next add() redraws it). */
  wrap(log: (s: string) => void): (s: string) => void {
    if (!this.live) return log;
    return (s) => {
      this.stream.write(CLEAR);
      this.drawn = -Infinity;
      log(s);
    };
  }

  /** The final line, kept on the terminal. */
  finish(): void {
    if (this.live) this.stream.write(CLEAR + this.line(this.now()) + "\n");
  }

  /** "label  1.5/3.0 GiB  50.0 MiB/s  0:31 left" */
  line(t: number): string {
    const s = (t - this.t0) / 1000;
    const rate = s > 0 ? this.done / s : 0;
    const giant = this.total >= 2 ** 30;
    const unit = giant ? 2 ** 30 : 2 ** 20;
    const amount = `${(this.done / unit).toFixed(1)}/${(this.total / unit).toFixed(1)} ${giant ? "GiB" : "MiB"}`;
    const left = rate > 0 ? clock((this.total - this.done) / rate) + " left" : "";
    return `${this.label}  ${amount}  ${(rate / 2 ** 20).toFixed(1)} MiB/s  ${left}`.trimEnd();
  }
}

/** Seconds as m:ss (h:mm:ss past an hour). */
function clock(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  const [h, m, s] = [Math.floor(t / 3600), Math.floor(t / 60) % 60, t % 60];
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
