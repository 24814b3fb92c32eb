'use strict';
/**
 * Paths as the person running a demo sees them. `npm run demo` runs in the package's root whatever
 * directory it is typed in (npm passes that one as INIT_CWD), so a relative path argument is taken
 * from there, and each command a demo prints is written to run from there as shown.
 */
const path = require('node:path');

const userCwd = process.env.npm_lifecycle_event === 'demo' && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();

/** An argument path, resolved against where the user stands. */
function fromUser(p) {
  return path.resolve(userCwd, p);
}

/** `p` relative to where the user stands when it lies below it, else absolute. */
function forUser(p) {
  const rel = path.relative(userCwd, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.resolve(p);
}

/** A command line the user can paste: arguments with spaces or quotes are quoted for a POSIX shell. */
function commandLine(args) {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

module.exports = { userCwd, fromUser, forUser, commandLine };
