import { Hono } from 'hono'
import type { Deps } from '../context.ts'
import { authenticateApiKey } from '../../domain/api-keys.ts'
import { ApiError, errorResponse } from './errors.ts'
import type { ApiEnv } from './context.ts'
import { jobRoutes } from './jobs.ts'
import { snapshotRoutes } from './snapshots.ts'

/**
 * The JSON API under /api/v1. Authenticated by `Authorization: Bearer <api key>` only: no
 * cookies are read here (so a browser session never authenticates a call, and CSRF does not
 * apply). Errors are `{ "error": { "code": "stable_code", "message": "plain words" } }`.
 */
export function apiRoutes(deps: Deps) {
  const api = new Hono<ApiEnv>()
  api.onError((err, c) => errorResponse(c, err))
  api.use('*', async (c, next) => {
    c.set('deps', deps)
    const match = /^Bearer +(\S+) *$/i.exec(c.req.header('authorization') ?? '')
    if (!match) {
      throw new ApiError(
        401,
        'unauthorized',
        'Send your API key as “Authorization: Bearer <key>”. Create one under Backups > Access.',
      )
    }
    const found = await authenticateApiKey(deps.db, match[1]!)
    if (!found)
      throw new ApiError(
        401,
        'unauthorized',
        'That API key is not valid: mistyped, revoked, or its account is disabled.',
      )
    c.set('tenant', found.tenant)
    c.set('apiKey', found.key)
    c.header('Cache-Control', 'no-store')
    await next()
  })
  api.route('/', jobRoutes)
  api.route('/snapshots', snapshotRoutes)
  api.all('*', () => {
    throw new ApiError(404, 'not_found', 'There is no such API endpoint. The README lists them.')
  })
  return api
}
