/**
 * The pages, as plain server-rendered HTML strings: no template engine and no build step. Everything that comes from
 * a user or the database goes through esc(); session ids are shown shortened (a full sid is a bearer credential).
 */

export interface PageInfo {
  /** which server the store talks to, already free of passwords */
  server: string;
  /** the store's expiry mode once settled: native (TTL index), interval, disabled */
  autoRemove: string;
}

export interface HomeModel {
  views: number;
  user?: string;
  shortId: string;
  expires?: Date;
  error?: string;
  /** the logged-in user's sessions (store.userSessions()); undefined: the store cannot list them */
  devices?: DeviceRow[];
  /** how many sessions "Log out everywhere else" just ended */
  ended?: number;
}

/** One of the user's sessions, with nothing of its id but the short tag. */
export interface DeviceRow {
  shortId: string;
  mine: boolean;
  signedIn?: Date;
  lastActivity?: Date;
  expires?: Date;
}

export interface AdminRow {
  shortId: string;
  user?: string;
  views?: number;
  expires?: Date;
  mine: boolean;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]);

/** The first characters of a stored id: enough to tell sessions apart, useless to hijack one. */
export const shortId = (id: string): string => `${id.slice(0, 6)}…`;

/** "2025-05-01 12:00:00 UTC (in 59 min)" */
export function expiry(date: Date | undefined, now = new Date()): string {
  if (!date) return 'no expiry';
  const abs = utc(date);
  const mins = Math.round((date.getTime() - now.getTime()) / 60_000);
  const rel = mins >= 120 ? `in ${Math.round(mins / 60)} h` : mins >= 1 ? `in ${mins} min` : 'in under a minute';
  return `${abs} (${rel})`;
}

/** "2025-05-01 12:00:00 UTC (3 min ago)" */
export function ago(date: Date | undefined, now = new Date()): string {
  if (!date) return 'unknown';
  const mins = Math.round((now.getTime() - date.getTime()) / 60_000);
  const rel = mins >= 120 ? `${Math.round(mins / 60)} h ago` : mins >= 1 ? `${mins} min ago` : 'just now';
  return `${utc(date)} (${rel})`;
}

const utc = (date: Date) => date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

const STYLE = `
  :root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #116149; --bg: #f5f7fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
  header { background: var(--accent); color: #fff; padding: 1rem 2rem; }
  header h1 { margin: 0; font-size: 1.4rem; }
  header p { margin: .25rem 0 0; opacity: .9; font-size: .9rem; }
  nav { padding: .5rem 2rem; border-bottom: 1px solid var(--line); background: #fff; }
  nav a { margin-right: 1.25rem; color: var(--accent); font-weight: 600; text-decoration: none; }
  main { max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; display: grid; gap: 1rem; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; }
  h2 { margin: 0 0 .5rem; font-size: 1.1rem; }
  .big { font-size: 2.5rem; font-weight: 700; color: var(--accent); margin: 0; }
  .muted { color: var(--muted); font-size: .9rem; }
  .error { color: #a61b1b; font-weight: 600; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .5rem 0 0; }
  input[type=text] { padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px; font: inherit; min-width: 14rem; }
  button { padding: .45rem .9rem; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font: inherit; cursor: pointer; }
  button.secondary { background: #52606d; }
  button:disabled { opacity: .5; cursor: default; }
  table { width: 100%; border-collapse: collapse; font-size: .95rem; }
  th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  tr.mine td { background: #effcf6; }
`;

function layout(title: string, info: PageInfo, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · connect-mongo example</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>connect-mongo example</h1>
  <p>Sessions stored by connect-mongo in <span data-testid="server">${esc(info.server)}</span> · expiry: <code>${esc(info.autoRemove)}</code></p>
</header>
<nav><a href="/">Home</a><a href="/admin">Live sessions</a></nav>
<main>
${body}
</main>
</body>
</html>`;
}

export function homePage(info: PageInfo, m: HomeModel): string {
  const who = m.user
    ? `<p>Logged in as <strong data-testid="user">${esc(m.user)}</strong>.</p>
  <form method="post" action="/logout"><button class="secondary" type="submit">Log out</button>
  <span class="muted">destroys the session: its document leaves the collection</span></form>`
    : `<p>Not logged in. Any name will do: logging in regenerates the session (a new id, against session fixation).</p>
  ${m.error ? `<p class="error" data-testid="error">${esc(m.error)}</p>` : ''}
  <form method="post" action="/login">
    <label for="name">Name</label>
    <input id="name" name="name" type="text" maxlength="40" required autocomplete="username">
    <button type="submit">Log in</button>
  </form>`;
  return layout(
    'Home',
    info,
    `<section>
  <h2>Visits in this session</h2>
  <p class="big" data-testid="views">${esc(m.views)}</p>
  <p class="muted">The counter lives in the session, so it survives a restart of the app.</p>
</section>
<section>
  <h2>You</h2>
  ${who}
</section>
<section>
  <h2>Your session</h2>
  <p>Stored id <code data-testid="sid">${esc(m.shortId)}</code> · expires ${esc(expiry(m.expires))}</p>
</section>${m.user ? devicesSection(m) : ''}`,
  );
}

function devicesSection(m: HomeModel): string {
  const ended =
    m.ended === undefined ? '' : `<p data-testid="ended"><strong>${esc(m.ended)}</strong> other session${m.ended === 1 ? '' : 's'} ended.</p>`;
  if (!m.devices) return `<section><h2>Your devices</h2>${ended}<p class="muted">This store cannot list a user's sessions (it needs a MongoStore with the userId option).</p></section>`;
  const rows = m.devices
    .map(
      (d) => `<tr${d.mine ? ' class="mine"' : ''}>
  <td><code>${esc(d.shortId)}</code>${d.mine ? ' <strong>(this device)</strong>' : ''}</td>
  <td>${esc(ago(d.signedIn))}</td>
  <td>${esc(ago(d.lastActivity))}</td>
  <td>${esc(expiry(d.expires))}</td>
</tr>`,
    )
    .join('\n');
  const others = m.devices.some((d) => !d.mine);
  return `
<section>
  <h2>Your devices (<span data-testid="device-count">${m.devices.length}</span>)</h2>
  ${ended}
  <p class="muted">Every live session of this user, from <code>store.userSessions(user)</code> (the config's <code>userId</code> option).</p>
  <table data-testid="devices">
    <thead><tr><th>Session</th><th>Signed in</th><th>Last activity</th><th>Expires</th></tr></thead>
    <tbody>
${rows}
    </tbody>
  </table>
  <form method="post" action="/logout-others"><button class="secondary" type="submit"${others ? '' : ' disabled'}>Log out everywhere else</button>
  <span class="muted">ends every other session of this user: <code>store.destroyUserSessions(user, { except: req.sessionID })</code></span></form>
</section>`;
}

export function adminPage(info: PageInfo, rows: AdminRow[]): string {
  const body = rows.length
    ? rows
        .map(
          (r) => `<tr${r.mine ? ' class="mine"' : ''}>
  <td><code>${esc(r.shortId)}</code>${r.mine ? ' <strong>(you)</strong>' : ''}</td>
  <td>${r.user ? esc(r.user) : '<span class="muted">anonymous</span>'}</td>
  <td>${esc(r.views ?? 0)}</td>
  <td>${esc(expiry(r.expires))}</td>
</tr>`,
        )
        .join('\n')
    : '<tr><td colspan="4" class="muted">No live sessions.</td></tr>';
  return layout(
    'Live sessions',
    info,
    `<section>
  <h2>Live sessions (<span data-testid="count">${rows.length}</span>)</h2>
  <p class="muted">Read from the store with <code>for await (const e of store.entries())</code>. Ids are shortened on purpose.
  A real app would let only administrators see this page.</p>
  <table data-testid="sessions">
    <thead><tr><th>Stored id</th><th>User</th><th>Visits</th><th>Expires</th></tr></thead>
    <tbody>
${body}
    </tbody>
  </table>
</section>`,
  );
}
