import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/**
 * A loopback fake of the parts of Dropbox's HTTP API v2 the driver calls, answering in
 * Dropbox's own shapes: OAuth (`/oauth2/authorize` auto-approves, `/oauth2/token` with the
 * authorization_code and refresh_token grants, short-lived access tokens that die with 401
 * `expired_access_token`), files/upload, upload sessions with offsets, download with Range,
 * list_folder with cursors, get_metadata and delete_v2. Paths are case-insensitive and case-
 * preserving; folders are implicit parents or made by uploads; a file exists only once committed.
 */
export type DropboxFake = {
  url: string
  port: number
  appKey: string
  appSecret: string
  /** A refresh token issued up front, as if Connect Dropbox had run. */
  refreshToken: string
  /** Mutable: seconds an access token lives, the `expires_in` reported, the space available. */
  options: { tokenTtl: number; advertisedTtl?: number; quotaBytes: number; pageSize: number }
  /** Committed files by lowercase path. */
  files: Map<string, FakeFile>
  /** Open (unfinished) upload sessions. */
  sessions: Map<string, { parts: Buffer[]; size: number; closed: boolean }>
  stats: { requests: Record<string, number>; expired: number; refreshes: number }
  /** Every access and refresh token issued, for leak checks. */
  issued: string[]
  /** Answers the next `times` calls to `route` (e.g. `files/upload`) with this instead. */
  inject(
    route: string,
    fault: { status: number; body?: unknown; headers?: Record<string, string> },
    times?: number,
  ): void
  revoke(refreshToken: string): void
  /** Stops listening and cuts every connection; the stored files survive for `start()`. */
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

export type FakeFile = { path: string; data: Buffer; rev: string; id: string; modified: string }

type Out = { status: number; body?: unknown; headers?: Record<string, string> }

export async function startDropboxFake(
  opts: Partial<DropboxFake['options']> = {},
): Promise<DropboxFake> {
  const appKey = `key${randomBytes(6).toString('hex')}`
  const appSecret = `secret${randomBytes(8).toString('hex')}`
  const options = { tokenTtl: 14_400, quotaBytes: Infinity, pageSize: 3, ...opts }
  const files = new Map<string, FakeFile>()
  const folders = new Map<string, string>()
  const sessions: DropboxFake['sessions'] = new Map()
  const cursors = new Map<string, { entries: unknown[]; pos: number }>()
  const codes = new Map<string, { redirectUri?: string; challenge?: string; offline: boolean }>()
  const refreshTokens = new Set<string>()
  const accessTokens = new Map<string, number>()
  const faults = new Map<string, Array<Out>>()
  const stats = { requests: {} as Record<string, number>, expired: 0, refreshes: 0 }
  const issued: string[] = []
  const token = (prefix: string) => {
    const t = `${prefix}${randomBytes(24).toString('base64url')}`
    issued.push(t)
    return t
  }
  const refreshToken = token('rt.')
  refreshTokens.add(refreshToken)

  const fail = (status: number, tags: string[], error: unknown): Out => ({
    status,
    body: { error_summary: `${tags.join('/')}/..`, error },
  })
  const notFound = (tag: 'path' | 'path_lookup', what = 'not_found') =>
    fail(409, [tag, what], { '.tag': tag, [tag]: { '.tag': what } })
  const lower = (p: string) => p.toLowerCase()
  const parent = (p: string) => p.slice(0, p.lastIndexOf('/'))
  const used = () => [...files.values()].reduce((n, f) => n + f.data.length, 0)

  function meta(path: string) {
    const key = lower(path)
    const file = files.get(key)
    const name = path.slice(path.lastIndexOf('/') + 1)
    if (file) {
      return {
        '.tag': 'file',
        name,
        id: file.id,
        path_lower: key,
        path_display: file.path,
        rev: file.rev,
        size: file.data.length,
        client_modified: file.modified,
        server_modified: file.modified,
        is_downloadable: true,
        content_hash: contentHash(file.data),
      }
    }
    return {
      '.tag': 'folder',
      name,
      id: `id:${hash(key)}`,
      path_lower: key,
      path_display: folders.get(key) ?? path,
    }
  }

  /** Writes a file at `path` (overwrite), making parent folders; a WriteError Out on conflict. */
  function commit(path: string, data: Buffer, mode: unknown): Out {
    if (!isPath(path)) return fail(400, ['malformed_path'], { '.tag': 'malformed_path' })
    const tag = typeof mode === 'string' ? mode : ((mode as any)?.['.tag'] ?? 'add')
    if (tag !== 'overwrite') {
      if (files.has(lower(path)))
        return fail(409, ['path', 'conflict', 'file'], {
          '.tag': 'path',
          reason: { '.tag': 'conflict', conflict: { '.tag': 'file' } },
        })
    }
    const old = files.get(lower(path))?.data.length ?? 0
    if (used() - old + data.length > options.quotaBytes) {
      return fail(409, ['path', 'insufficient_space'], {
        '.tag': 'path',
        reason: { '.tag': 'insufficient_space' },
      })
    }
    if (folders.has(lower(path)))
      return fail(409, ['path', 'conflict', 'folder'], {
        '.tag': 'path',
        reason: { '.tag': 'conflict', conflict: { '.tag': 'folder' } },
      })
    for (let p = parent(path); p; p = parent(p)) {
      if (files.has(lower(p)))
        return fail(409, ['path', 'conflict', 'file'], {
          '.tag': 'path',
          reason: { '.tag': 'conflict', conflict: { '.tag': 'file' } },
        })
    }
    for (let p = parent(path); p; p = parent(p))
      if (!folders.has(lower(p))) folders.set(lower(p), p)
    const existing = files.get(lower(path))
    files.set(lower(path), {
      path: existing?.path ?? path,
      data,
      rev: randomBytes(9).toString('hex'),
      id: existing?.id ?? `id:${randomBytes(8).toString('base64url')}`,
      modified: new Date().toISOString().slice(0, 19) + 'Z',
    })
    // Upload routes answer a FileMetadata struct: the Metadata union's fields without `.tag`.
    const { '.tag': _tag, ...file } = meta(path)
    return { status: 200, body: file }
  }

  function listEntries(path: string, recursive: boolean): unknown[] | Out {
    const key = lower(path)
    if (files.has(key)) return notFound('path', 'not_folder')
    if (key && !folders.has(key)) return notFound('path')
    const within = (p: string) =>
      p.startsWith(`${key}/`) && (recursive || !p.slice(key.length + 1).includes('/'))
    const out: unknown[] = key ? [meta(folders.get(key)!)] : []
    for (const [k, display] of folders) if (within(k)) out.push(meta(display))
    for (const [k, file] of files) if (within(k)) out.push(meta(file.path))
    return out
  }

  function page(cursor: string): Out {
    const c = cursors.get(cursor)
    if (!c) return fail(409, ['reset'], { '.tag': 'reset' })
    const entries = c.entries.slice(c.pos, c.pos + options.pageSize)
    c.pos += entries.length
    return { status: 200, body: { entries, cursor, has_more: c.pos < c.entries.length } }
  }

  async function api(route: string, arg: any, body: Buffer, req: IncomingMessage): Promise<Out> {
    switch (route) {
      case 'files/get_metadata': {
        const key = lower(arg.path)
        return files.has(key) || folders.has(key)
          ? { status: 200, body: meta(arg.path) }
          : notFound('path')
      }
      case 'files/list_folder': {
        const entries = listEntries(arg.path, Boolean(arg.recursive))
        if (!Array.isArray(entries)) return entries
        const cursor = randomBytes(12).toString('base64url')
        cursors.set(cursor, { entries, pos: 0 })
        return page(cursor)
      }
      case 'files/list_folder/continue':
        return page(arg.cursor)
      case 'files/delete_v2': {
        const key = lower(arg.path)
        if (files.has(key)) {
          const m = meta(arg.path)
          if (arg.parent_rev && arg.parent_rev !== files.get(key)!.rev)
            return fail(409, ['path_write', 'conflict', 'file'], { '.tag': 'path_write' })
          files.delete(key)
          return { status: 200, body: { metadata: m } }
        }
        if (!folders.has(key)) return notFound('path_lookup')
        if (arg.parent_rev) return notFound('path_lookup', 'not_file')
        const m = meta(folders.get(key)!)
        for (const k of [...files.keys()]) if (k.startsWith(`${key}/`)) files.delete(k)
        for (const k of [...folders.keys()])
          if (k === key || k.startsWith(`${key}/`)) folders.delete(k)
        return { status: 200, body: { metadata: m } }
      }
      case 'files/upload':
        return commit(arg.path, body, arg.mode)
      case 'files/upload_session/start': {
        const id = `pid_upload_session:${randomBytes(16).toString('base64url')}`
        sessions.set(id, { parts: [body], size: body.length, closed: Boolean(arg.close) })
        return { status: 200, body: { session_id: id } }
      }
      case 'files/upload_session/append_v2':
      case 'files/upload_session/finish': {
        const finish = route.endsWith('finish')
        const s = sessions.get(arg.cursor?.session_id)
        const lookup = (tag: string, extra = {}) =>
          finish
            ? fail(409, ['lookup_failed', tag], {
                '.tag': 'lookup_failed',
                lookup_failed: { '.tag': tag, ...extra },
              })
            : fail(409, [tag], { '.tag': tag, ...extra })
        if (!s) return lookup('not_found')
        if (arg.cursor.offset !== s.size)
          return lookup('incorrect_offset', { correct_offset: s.size })
        if (s.closed && body.length) return lookup('closed')
        s.parts.push(body)
        s.size += body.length
        if (!finish) {
          s.closed = Boolean(arg.close)
          return { status: 200, body: null }
        }
        const out = commit(arg.commit.path, Buffer.concat(s.parts), arg.commit.mode)
        if (out.status === 200) sessions.delete(arg.cursor.session_id)
        return out
      }
      case 'files/download': {
        const key = lower(arg.path)
        const file = files.get(key)
        if (!file) return folders.has(key) ? notFound('path', 'not_file') : notFound('path')
        return download(file, meta(arg.path), req.headers.range)
      }
    }
    return { status: 404, body: 'Unknown API function' }
  }

  async function oauthToken(req: IncomingMessage, body: Buffer): Promise<Out> {
    const form = new URLSearchParams(body.toString())
    let id = form.get('client_id')
    let secret = form.get('client_secret')
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')
    if (basic)
      [id, secret] = Buffer.from(basic[1]!, 'base64').toString().split(':') as [string, string]
    const bad = (error: string, error_description?: string): Out => ({
      status: 400,
      body: { error, error_description },
    })
    const pkce = form.get('grant_type') === 'authorization_code' && form.get('code_verifier')
    if (id !== appKey || (secret !== appSecret && !(pkce && secret == null))) {
      return bad('invalid_client: Invalid client_id or client_secret')
    }
    const access = () => {
      const t = token('sl.')
      accessTokens.set(t, Date.now() + options.tokenTtl * 1000)
      return {
        access_token: t,
        token_type: 'bearer',
        expires_in: options.advertisedTtl ?? options.tokenTtl,
      }
    }
    if (form.get('grant_type') === 'refresh_token') {
      if (!refreshTokens.has(form.get('refresh_token') ?? ''))
        return bad('invalid_grant', 'refresh token is invalid or revoked')
      stats.refreshes++
      return { status: 200, body: access() }
    }
    if (form.get('grant_type') !== 'authorization_code') return bad('unsupported_grant_type')
    const code = codes.get(form.get('code') ?? '')
    codes.delete(form.get('code') ?? '')
    if (!code) return bad('invalid_grant', "code doesn't exist or has expired")
    if ((form.get('redirect_uri') ?? undefined) !== code.redirectUri)
      return bad('invalid_grant', 'redirect_uri mismatch')
    if (code.challenge && hash(form.get('code_verifier') ?? '', 'base64url') !== code.challenge)
      return bad('invalid_grant', 'invalid code verifier')
    const out: Record<string, unknown> = {
      ...access(),
      scope: 'files.content.read files.content.write files.metadata.read files.metadata.write',
      uid: '12345',
      account_id: 'dbid:fake-account',
    }
    if (code.offline) {
      out.refresh_token = token('rt.')
      refreshTokens.add(out.refresh_token as string)
    }
    return { status: 200, body: out }
  }

  function authorize(url: URL): Out {
    const q = url.searchParams
    if (q.get('client_id') !== appKey)
      return {
        status: 400,
        body: `Invalid client_id: "${q.get('client_id')}".`,
        headers: { 'Content-Type': 'text/plain' },
      }
    if (q.get('response_type') !== 'code')
      return {
        status: 400,
        body: 'Unsupported response_type.',
        headers: { 'Content-Type': 'text/plain' },
      }
    const redirectUri = q.get('redirect_uri') ?? undefined
    const code = randomBytes(20).toString('base64url')
    codes.set(code, {
      redirectUri,
      challenge: q.get('code_challenge') ?? undefined,
      offline: q.get('token_access_type') === 'offline',
    })
    if (redirectUri) {
      const back = new URL(redirectUri)
      back.searchParams.set('code', code)
      if (q.get('state')) back.searchParams.set('state', q.get('state')!)
      return { status: 302, headers: { Location: back.toString() } }
    }
    const html = `<!doctype html><title>API Request Authorization</title><p>Access code generated. Enter this code into your app to finish the process.</p><input id="code" readonly value="${code}">`
    return { status: 200, body: html, headers: { 'Content-Type': 'text/html; charset=utf-8' } }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake')
    const route = url.pathname.replace(/^\/2\//, '').replace(/^\//, '')
    stats.requests[route] = (stats.requests[route] ?? 0) + 1
    const body = await readAll(req)
    const injected = faults.get(route)?.shift()
    if (injected) return send(res, injected)
    if (route === 'oauth2/authorize' && req.method === 'GET') return send(res, authorize(url))
    if (req.method !== 'POST') return send(res, { status: 405, body: 'Method not allowed' })
    if (route === 'oauth2/token') return send(res, await oauthToken(req, body))
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (!bearer)
      return send(res, {
        status: 400,
        body: `Error in call to API function "${route}": Must provide HTTP header "Authorization".`,
      })
    const expires = accessTokens.get(bearer)
    if (expires === undefined)
      return send(res, fail(401, ['invalid_access_token'], { '.tag': 'invalid_access_token' }))
    if (Date.now() >= expires) {
      stats.expired++
      return send(res, fail(401, ['expired_access_token'], { '.tag': 'expired_access_token' }))
    }
    let arg: any
    try {
      const header = req.headers['dropbox-api-arg']
      arg = typeof header === 'string' ? JSON.parse(header) : JSON.parse(body.toString() || 'null')
    } catch {
      return send(res, {
        status: 400,
        body: `Error in call to API function "${route}": could not decode input as JSON`,
      })
    }
    return send(res, await api(route, arg, body, req))
  }

  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, { status: 500, body: String(err) }))
  })
  server.keepAliveTimeout = 60_000
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  let port = 0
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        port = (server.address() as AddressInfo).port
        resolve()
      })
    })
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    })
  await start()
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    appKey,
    appSecret,
    refreshToken,
    options,
    files,
    sessions,
    stats,
    issued,
    inject(route, fault, times = 1) {
      faults.set(route, [
        ...(faults.get(route) ?? []),
        ...Array.from({ length: times }, () => fault),
      ])
    },
    revoke: (t) => void refreshTokens.delete(t),
    stop,
    start,
    close: stop,
  }
}

function download(file: FakeFile, metadata: unknown, range?: string): Out {
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Dropbox-API-Result': headerJson(metadata),
  }
  const m = range && /^bytes=(\d+)-(\d*)$/.exec(range)
  if (!m) return { status: 200, body: file.data, headers }
  const size = file.data.length
  const start = Number(m[1])
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1
  if (start >= size || end < start)
    return { status: 416, body: '', headers: { 'Content-Range': `bytes */${size}` } }
  return {
    status: 206,
    body: file.data.subarray(start, end + 1),
    headers: { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}` },
  }
}

function send(res: ServerResponse, out: Out) {
  if (res.headersSent) return res.destroy()
  const raw = Buffer.isBuffer(out.body) || typeof out.body === 'string'
  const body =
    out.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(raw ? (out.body as string) : JSON.stringify(out.body))
  const type = raw ? 'text/plain; charset=utf-8' : 'application/json'
  res.writeHead(out.status, { 'Content-Type': type, ...out.headers, 'Content-Length': body.length })
  res.end(body)
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks)
}

function hash(text: string, enc: 'hex' | 'base64url' = 'hex'): string {
  return createHash('sha256').update(text).digest(enc)
}

/** Dropbox's content_hash: SHA-256 over the SHA-256 of each 4 MiB block. */
function contentHash(data: Buffer): string {
  const outer = createHash('sha256')
  for (let i = 0; i < data.length; i += 4 << 20)
    outer.update(
      createHash('sha256')
        .update(data.subarray(i, i + (4 << 20)))
        .digest(),
    )
  return outer.digest('hex')
}

function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** Dropbox paths: `/`-separated from the root, no trailing slash, no empty names. */
function isPath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.endsWith('/') && !p.includes('//')
}
