// The demo app. It never sees a token: the gateway keeps the session in an
// HttpOnly cookie and adds the bearer token to API calls itself. So this file
// only fetches same-origin URLs with the cookie, stores nothing in the browser
// (no localStorage, no sessionStorage), and puts data on the page as text
// (textContent), never as HTML.

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** An API answered 401: the session has ended (signed out here or elsewhere, or revoked). */
class SignedOut extends Error {}

/** A same-origin JSON call with the gateway's cookie; undefined for 204. */
async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new SignedOut();
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.error_description || problem.error || `${method} ${path} answered ${response.status}`);
  }
  return response.status === 204 ? undefined : response.json();
}

function setStatus(message, isError = false) {
  const status = $('status');
  status.textContent = message;
  status.classList.toggle('error', isError);
}

/** Private data leaves the page with the session: nothing of it stays in the DOM. */
function showSignedOut(message) {
  $('notes').replaceChildren();
  $('devices').replaceChildren();
  $('whoami').textContent = '';
  $('whoami').hidden = true;
  $('signed-in').hidden = true;
  $('signed-out').hidden = false;
  setStatus(message);
}

function showSignedIn(session) {
  $('whoami').textContent = `Signed in as ${session.name ?? session.sub}`;
  $('whoami').hidden = false;
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  setStatus('');
}

/** Runs an action; a 401 means signed out (shown, never redirected: no reload loop), anything else is said. */
async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof SignedOut) showSignedOut('Your session has ended. Sign in again to continue.');
    else setStatus(error instanceof Error ? error.message : String(error), true);
  }
}

function button(label, className, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = className;
  element.textContent = label;
  element.addEventListener('click', () => {
    element.disabled = true;
    void guarded(onClick).finally(() => {
      element.disabled = false;
    });
  });
  return element;
}

function span(text, className) {
  const element = document.createElement('span');
  if (className) element.className = className;
  element.textContent = text;
  return element;
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

async function loadNotes() {
  const { notes } = await api('GET', '/notes');
  $('notes').replaceChildren(
    ...notes.map((note) => {
      const item = document.createElement('li');
      item.className = 'note';
      item.dataset.id = note.id;
      const text = span(note.text, 'note-text');
      text.title = when(note.created_at);
      item.append(
        text,
        button('Delete', 'delete-note', async () => {
          await api('DELETE', `/notes/${encodeURIComponent(note.id)}`);
          await loadNotes();
        }),
      );
      return item;
    }),
  );
}

async function loadDevices() {
  const { sessions } = await api('GET', '/auth/sessions');
  $('devices').replaceChildren(
    ...sessions.map((device) => {
      const item = document.createElement('li');
      item.className = 'device';
      item.dataset.id = device.id;
      const about = document.createElement('div');
      about.append(
        span(device.user_agent || device.client_id || 'Unknown device', 'device-name'),
        document.createElement('br'),
        span(`signed in ${when(device.created_at)} · last used ${when(device.last_used_at)}${device.ip ? ` · ${device.ip}` : ''}`, 'meta'),
      );
      item.append(
        about,
        device.current
          ? span('this device', 'current')
          : button('Revoke', 'revoke', async () => {
              await api('DELETE', `/auth/sessions/${encodeURIComponent(device.id)}`);
              await loadDevices();
            }),
      );
      return item;
    }),
  );
}

async function signOut(scope) {
  // Same-origin fetch: the browser adds Sec-Fetch-Site: same-origin, which the gateway's CSRF check wants.
  const response = await fetch('/.auth/logout', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ scope }),
  });
  // 401: this session had already ended elsewhere, so it can no longer speak for the other devices.
  if (response.status === 401) {
    showSignedOut(
      scope === 'global' ? 'Your session had already ended. Sign in again to sign out on every device.' : 'You are signed out.',
    );
    return;
  }
  if (!response.ok) throw new Error(`Signing out failed (${response.status}). Try again.`);
  showSignedOut(scope === 'global' ? 'You are signed out on every device.' : 'You are signed out.');
}

/** Asks the gateway who is signed in; anything but a clear answer counts as signed out. */
async function readSession() {
  try {
    const response = await fetch('/.auth/session', { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (!response.ok) return { signed_in: false, unavailable: true };
    return await response.json();
  } catch {
    return { signed_in: false, unavailable: true };
  }
}

async function start() {
  const session = await readSession();
  if (!session.signed_in) {
    showSignedOut(session.unavailable ? 'Sign-in is not available right now.' : 'You are not signed in.');
    return;
  }
  showSignedIn(session);
  await guarded(() => Promise.all([loadNotes(), loadDevices()]));
}

$('sign-in').addEventListener('click', () => {
  const returnTo = `${location.pathname}${location.search}`;
  location.assign(`/.auth/login?return_to=${encodeURIComponent(returnTo)}`);
});
$('sign-out').addEventListener('click', () => void guarded(() => signOut('local')));
$('sign-out-everywhere').addEventListener('click', () => void guarded(() => signOut('global')));
$('note-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('note-text'));
  const text = input.value.trim();
  if (!text) return;
  void guarded(async () => {
    await api('POST', '/notes', { text });
    input.value = '';
    await loadNotes();
  });
});
// A page restored from the back-forward cache asks again: it may show a session that has ended.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) void start();
});

void start();
