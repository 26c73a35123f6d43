/** Marks what the host provides (its storage, its policies): tenants use it but cannot change it. */
export function HostBadge() {
  return (
    <span class="badge badge-host" title="Your host runs this backup and its storage for you">
      Provided by your host
    </span>
  )
}
