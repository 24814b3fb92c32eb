'use strict';
/**
 * The benchmarks' result table: aligned columns with a blank line between sections (rows whose
 * first cell changes), or Markdown (`markdown: true`) for bench/README.md.
 */
function printTable(head, body, { markdown = false } = {}) {
  if (markdown) {
    const esc = (s) => String(s).replace(/\|/g, '\\|');
    console.log(`| ${head.join(' | ')} |`);
    console.log(`|${head.map(() => ' --- ').join('|')}|`);
    for (const r of body) console.log(`| ${r.map(esc).join(' | ')} |`);
    return;
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  let last = null;
  for (const r of body) {
    if (last !== null && r[0] !== last) console.log('');
    last = r[0];
    console.log(line(r));
  }
}

module.exports = { printTable };
