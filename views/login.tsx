import { BrandMark, Layout, type PageCtx } from './layout.tsx'
import { Csrf, TextInput } from './fields.tsx'

export function LoginPage(props: {
  ctx: PageCtx
  username?: string
  error?: string
  next?: string
}) {
  return (
    <Layout ctx={props.ctx} title="Sign in">
      <div class="auth-card">
        <div class="auth-brand">
          <BrandMark brand={props.ctx.brand} />
        </div>
        <h1>Sign in</h1>
        <p class="lead">Manage your backups: where they go, when they run, and restores.</p>
        {props.error && (
          <div class="flash flash-error" role="alert">
            {props.error}
          </div>
        )}
        <form method="post" action="/login" class="stack" novalidate>
          <Csrf token={props.ctx.csrf} />
          {props.next && <input type="hidden" name="next" value={props.next} />}
          <TextInput
            name="username"
            label="Username"
            value={props.username}
            required
            autocomplete="username"
            autofocus
          />
          <TextInput
            name="password"
            label="Password"
            type="password"
            required
            autocomplete="current-password"
          />
          <button class="button primary wide" type="submit">
            Sign in
          </button>
        </form>
      </div>
    </Layout>
  )
}

export function SetPasswordPage(props: {
  ctx: PageCtx
  token: string
  username: string
  error?: string
}) {
  return (
    <Layout ctx={props.ctx} title="Choose a password">
      <div class="auth-card">
        <div class="auth-brand">
          <BrandMark brand={props.ctx.brand} />
        </div>
        <h1>Welcome, {props.username}</h1>
        <p class="lead">
          This sign-in link works once. Choose the password you will sign in with from now on.
        </p>
        <form method="post" action={`/login/link/${props.token}`} class="stack">
          <Csrf token={props.ctx.csrf} />
          <TextInput
            name="password"
            label="New password"
            type="password"
            required
            autocomplete="new-password"
            error={props.error}
            help="At least 10 characters."
          />
          <button class="button primary wide" type="submit">
            Save password and sign in
          </button>
        </form>
      </div>
    </Layout>
  )
}
