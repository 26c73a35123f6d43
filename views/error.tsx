import { Layout, type PageCtx } from './layout.tsx'

const titles: Record<number, string> = {
  403: 'Not allowed',
  404: 'Not found',
  409: 'Cannot do that now',
  429: 'Too many attempts',
  500: 'Something went wrong',
}

export function ErrorPage(props: { ctx: PageCtx; status: number; message: string }) {
  const title = titles[props.status] ?? 'Error'
  return (
    <Layout ctx={props.ctx} title={title}>
      <div class="empty">
        <p class="empty-code">{props.status}</p>
        <h1>{title}</h1>
        <p>{props.message}</p>
        <p>
          <a class="button" href="/">
            Back to the panel
          </a>
        </p>
      </div>
    </Layout>
  )
}
