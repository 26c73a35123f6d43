import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, TextInput } from './fields.tsx'

/**
 * Admin > Recovery kits: every tenant's recovery kits in one file sealed to an age public key,
 * so the host can restore any tenant without this panel. A plain form (the answer is a download).
 */
export function AdminEscrowPage(props: {
  ctx: PageCtx
  /** Initialized repositories the export would hold now. */
  count: number
  recipient?: string
  error?: string
}) {
  return (
    <Layout ctx={props.ctx} title="Recovery kits" active="recovery-kits">
      <PageHead
        title="Recovery kits"
        lead="Every tenant’s recovery kits in one file, sealed with age, for safekeeping away from this server."
      />
      <form method="post" action="/admin/recovery-kits" class="card form" novalidate>
        <Csrf token={props.ctx.csrf} />
        <p>
          The file holds the password and storage credentials of all{' '}
          {props.count === 1 ? '1 repository' : `${props.count} repositories`}: with it and stock
          restic, any tenant’s backups can be restored without this panel. Only the holder of the
          age private key can open it.
        </p>
        <TextInput
          name="recipient"
          label="age public key"
          value={props.recipient}
          error={props.error}
          placeholder="age1…"
          autocomplete="off"
          spellcheck="false"
          help={
            <>
              Make a key pair with <code>age-keygen -o key.txt</code> on a computer you trust and
              paste the public key it prints. Open the download with{' '}
              <code>age -d -i key.txt recovery-kits-….age</code>.
            </>
          }
        />
        <button class="button primary" type="submit">
          Download sealed recovery kits
        </button>
      </form>
    </Layout>
  )
}
