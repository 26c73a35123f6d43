import { describe, expect, it } from 'vitest'
import ts from 'typescript'
import { inProject } from '../../src/project-root.ts'

/**
 * The database layer is async: a query function called without `await` would write later than
 * the code after it assumes, and its error would go unhandled. Every call whose result is a
 * promise must be awaited, returned, kept, or marked `void` on purpose; a promise is never a
 * condition. (tsc flags a promise in an `if` only.)
 */
describe('promises in src, views and test', () => {
  it('are never dropped or used as a condition', { timeout: 120_000 }, () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      inProject('tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: () => {},
      },
    )!
    const program = ts.createProgram(config.fileNames, config.options)
    const checker = program.getTypeChecker()
    const isPromise = (node: ts.Node) => {
      const type = checker.getTypeAtLocation(node)
      const parts = type.isUnion() ? type.types : [type]
      return parts.some((t) => !!t.getProperty('then') && !!t.getProperty('catch'))
    }
    const found: string[] = []
    const report = (node: ts.Node, what: string) => {
      const file = node.getSourceFile()
      const { line } = file.getLineAndCharacterOfPosition(node.getStart())
      found.push(`${file.fileName.replace(inProject(''), '')}:${line + 1} ${what}`)
    }
    // A chain that ends in `.catch(…)` or `.then(ok, failed)` handles its own rejection.
    const handled = (e: ts.Expression): boolean => {
      if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return false
      const name = e.expression.name.text
      if (name === 'catch' || (name === 'then' && e.arguments.length === 2)) return true
      return handled(e.expression.expression)
    }
    // Only a call's result is checked as a condition: a variable may hold a promise or null.
    const called = (e: ts.Expression): boolean =>
      ts.isParenthesizedExpression(e)
        ? called(e.expression)
        : ts.isCallExpression(e) && isPromise(e)
    const visit = (node: ts.Node) => {
      if (ts.isExpressionStatement(node)) {
        const e = ts.skipPartiallyEmittedExpressions(node.expression)
        if ((ts.isCallExpression(e) || ts.isNewExpression(e)) && !handled(e) && isPromise(e))
          report(node, `promise dropped: ${e.getText().slice(0, 60)}`)
      }
      if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken)
        if (called(node.operand)) report(node, 'promise negated')
      if (ts.isConditionalExpression(node) && called(node.condition))
        report(node, 'promise as a condition')
      if (
        ts.isBinaryExpression(node) &&
        (node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ||
          node.operatorToken.kind === ts.SyntaxKind.BarBarToken) &&
        called(node.left)
      )
        report(node, 'promise as a condition')
      ts.forEachChild(node, visit)
    }
    for (const file of program.getSourceFiles())
      if (!file.isDeclarationFile && !file.fileName.includes('node_modules')) visit(file)
    expect(found).toEqual([])
  })
})
