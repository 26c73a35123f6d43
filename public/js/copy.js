// Progressive enhancement: a Copy button after every element marked data-copy="<button words>"
// (a recovery kit's password and commands, a backup token or API key shown once, the pull
// script). Without this file the text stays plain and selectable.
function copyText(el) {
  const text = el.textContent.trim()
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text)
  // Plain http on another host: select the text and use the older copy command.
  const range = document.createRange()
  range.selectNodeContents(el)
  const selection = window.getSelection()
  selection.removeAllRanges()
  selection.addRange(range)
  const ok = document.execCommand('copy')
  return ok ? Promise.resolve() : Promise.reject(new Error('copy refused'))
}

function addCopyButtons(root) {
  const found = root.matches?.('[data-copy]') ? [root] : []
  for (const el of [...found, ...root.querySelectorAll('[data-copy]')]) {
    if (el.dataset.copyReady) continue
    el.dataset.copyReady = '1'
    const words = el.dataset.copy || 'Copy'
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'button small copy-button'
    button.textContent = words
    const status = document.createElement('span')
    status.className = 'copy-status'
    status.setAttribute('role', 'status')
    button.addEventListener('click', () => {
      copyText(el).then(
        () => {
          status.textContent = 'Copied.'
          setTimeout(() => (status.textContent = ''), 2500)
        },
        () => {
          status.textContent = 'Select the text and copy it with your keyboard.'
        },
      )
    })
    const bar = document.createElement('span')
    bar.className = 'copy-bar'
    bar.append(button, status)
    el.after(bar)
  }
}

document.addEventListener('DOMContentLoaded', () => addCopyButtons(document.body))
// Fragments htmx swaps in (the token or key just created) get their buttons too.
document.addEventListener('htmx:afterSettle', () => addCopyButtons(document.body))
