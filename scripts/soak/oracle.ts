/**
 * The soak's sequential model of what each user may read. Each user's requests are sequential and every save
 * carries a version larger than any before it, so after an acknowledged save of version a, a read may answer a, or
 * a later version whose save is under way or failed (a failed write may still land: it is "unknown", not "undone");
 * never one older than a, and never nothing unless a destroy was tried since. After an acknowledged destroy the
 * session stays gone for good. Anything else is an acknowledged write lost.
 */

export interface Loss {
  user: number;
  what: string;
  /** ms after the load started */
  at: number;
}

interface SessionModel {
  sid: string;
  /** the last acknowledged version */
  acked: number;
  /** the highest version sent since (acknowledged or not) */
  sent: number;
  /** a destroy was sent since the last acknowledged save (it may have landed) */
  destroySent: boolean;
}

export class Oracle {
  readonly losses: Loss[] = [];
  /** each user's live session, as far as acknowledgements say */
  private readonly live = new Map<number, SessionModel>();
  /** sids whose destroy was acknowledged: they never come back */
  readonly destroyed: string[] = [];
  private version = 0;
  checks = 0;

  constructor(private readonly now: () => number) {}

  session(user: number): SessionModel | undefined {
    return this.live.get(user);
  }

  /** A version for the user's next save, larger than every earlier one. */
  nextVersion(): number {
    return ++this.version;
  }

  /** A log-in answered 200: its session exists with that version. A failed one leaves the user logged out. */
  loggedIn(user: number, sid: string, v: number) {
    this.live.set(user, { sid, acked: v, sent: v, destroySent: false });
  }

  saveSent(user: number, v: number) {
    const s = this.live.get(user);
    if (s) s.sent = Math.max(s.sent, v);
  }

  saveAcked(user: number, v: number) {
    const s = this.live.get(user);
    if (!s) return;
    s.acked = Math.max(s.acked, v);
    s.destroySent = false;
  }

  destroySent(user: number) {
    const s = this.live.get(user);
    if (s) s.destroySent = true;
  }

  destroyAcked(user: number) {
    const s = this.live.get(user);
    if (!s) return;
    this.destroyed.push(s.sid);
    this.live.delete(user);
  }

  /** A read of the user's session answered: `v` is the version it held, or null for "no session". */
  read(user: number, v: number | null, via: string) {
    const s = this.live.get(user);
    if (!s) return;
    this.checks++;
    if (v === null ? !s.destroySent : v < s.acked || v > s.sent) {
      this.lose(user, `${via} read ${v === null ? 'no session' : `version ${v}`}; acknowledged ${s.acked}, sent up to ${s.sent}${s.destroySent ? ', a destroy sent' : ''}`);
    }
  }

  /** A read of a destroyed session answered: it must be gone. */
  readDestroyed(user: number, found: boolean, via: string) {
    this.checks++;
    if (found) this.lose(user, `${via} read a session whose destroy was acknowledged`);
  }

  /** The users and sessions still to check at the end. */
  liveSessions(): Array<[number, SessionModel]> {
    return [...this.live];
  }

  private lose(user: number, what: string) {
    this.losses.push({ user, what, at: Math.round(this.now()) });
  }
}
