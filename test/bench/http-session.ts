import { performance } from 'node:perf_hooks'

/** A signed-in browser over real HTTP: its cookies, and one timed GET. */
export type HttpSession = {
  /** GETs `path` and reads the whole body; `ms` runs from the request to the last byte. */
  get(path: string): Promise<{ status: number; ms: number; body: string }>
}

/** Keeps the cookies a response sets (an expired one is dropped), as a browser would. */
function keepCookies(jar: Map<string, string>, res: Response): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';')
    const [name, ...value] = pair!.split('=')
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))
    if (expired) jar.delete(name!.trim())
    else jar.set(name!.trim(), value.join('='))
  }
}

/**
 * Signs in at `base` (http://127.0.0.1:port of a real `panel serve`) through the login form,
 * with its CSRF cookie and token and the panel's own Origin, like the integration tests' Client
 * does through app.request(). Throws when the panel does not start a session.
 */
export async function signIn(base: string, username: string, password: string) {
  const jar = new Map<string, string>()
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
  const send = async (path: string, init: RequestInit = {}) => {
    const headers = { ...(init.headers as Record<string, string>), cookie: cookie() }
    const res = await fetch(base + path, { ...init, headers, redirect: 'manual' })
    keepCookies(jar, res)
    return res
  }
  const page = await (await send('/login')).text()
  const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1]
  if (!token) throw new Error('sign-in: the login page has no CSRF token')
  const form = new URLSearchParams({ username, password, _csrf: token })
  const res = await send('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
    body: form.toString(),
  })
  await res.text()
  if (res.status < 300 || res.status >= 400)
    throw new Error(`sign-in as ${username} answered ${res.status}, not a redirect`)
  const session: HttpSession = {
    async get(path) {
      const start = performance.now()
      const r = await send(path)
      const body = await r.text()
      return { status: r.status, ms: performance.now() - start, body }
    },
  }
  return session
}
