// Finds the Node-RED that `xcast start` embeds: node-red is a peer of this package, not a dependency.
//
// In the repository it is a devDependency (next to this package). Installed into a Node-RED user
// directory, this package has no node-red of its own: the user's Node-RED is usually installed
// globally (`npm install -g node-red`) or in a project folder; we look there, in that order.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

/** The oldest Node-RED the nodes are written for (package.json "node-red".version). */
const MIN_VERSION = [4, 1] as const;

export const NODE_RED_INSTALL_HINT = 'npm install -g node-red';

/** A node-red package found on this machine. */
export interface NodeRedInstall {
  /** The folder holding node-red's package.json. */
  dir: string;
  version: string;
  /** Where it was found, for messages: "beside xcast", "in the current folder", "on PATH", "npm global". */
  where: string;
}

function packageAt(dir: string): { name?: string; version?: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

function resolvedFrom(base: string): string | undefined {
  try {
    return path.dirname(require.resolve('node-red/package.json', { paths: [base] }));
  } catch {
    return undefined;
  }
}

/** The node-red package behind a `node-red` command on PATH (npm links it to node-red/red.js). */
function fromPath(envPath: string): string | undefined {
  for (const bin of envPath.split(path.delimiter).filter(Boolean)) {
    let file: string;
    try {
      file = fs.realpathSync(path.join(bin, 'node-red'));
    } catch {
      continue;
    }
    for (let d = path.dirname(file); d !== path.dirname(d); d = path.dirname(d)) {
      if (packageAt(d)?.name === 'node-red') return d;
    }
  }
  return undefined;
}

function fromNpmGlobal(): string | undefined {
  const r = spawnSync('npm', ['root', '-g'], { encoding: 'utf8', timeout: 15000 });
  const root = r.status === 0 ? r.stdout.trim() : '';
  return root && packageAt(path.join(root, 'node-red'))?.name === 'node-red' ? path.join(root, 'node-red') : undefined;
}

function tooOld(version: string): boolean {
  const [major, minor] = version.split('.').map((x) => Number.parseInt(x, 10));
  return major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1]);
}

/**
 * The first Node-RED found: resolvable from this package (the repository's devDependency, a
 * project folder, NODE_PATH), from the current folder, behind `node-red` on PATH, in npm's global
 * folder. Throws a message that says how to get one when there is none, or only a too old one.
 */
export function findNodeRed(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): NodeRedInstall {
  const looks: Array<[string, () => string | undefined]> = [
    ['beside xcast', () => resolvedFrom(__dirname)],
    [`in ${cwd}`, () => resolvedFrom(cwd)],
    ['on PATH', () => fromPath(env.PATH ?? '')],
    ['in npm\'s global folder', fromNpmGlobal],
  ];
  for (const [where, look] of looks) {
    const dir = look();
    if (!dir) continue;
    const version = String(packageAt(dir)?.version ?? '0.0.0');
    if (tooOld(version)) {
      throw new Error(`xcast needs Node-RED ${MIN_VERSION.join('.')} or later; found ${version} ${where} (${dir}). Update it: ${NODE_RED_INSTALL_HINT}`);
    }
    return { dir, version, where };
  }
  throw new Error(`xcast start needs Node-RED, and none was found (${looks.map(([w]) => w).join(', ')}). ` +
    `Install it: ${NODE_RED_INSTALL_HINT} (in a clone of the xcast repository, npm install brings it as a devDependency)`);
}

/** Node-RED's runtime module and the express it serves with (its own dependency, so both match). */
export function loadNodeRed(install: NodeRedInstall = findNodeRed()): { RED: unknown; express: unknown } {
  /* eslint-disable @typescript-eslint/no-var-requires */
  const RED = require(install.dir);
  const express = require(require.resolve('express', { paths: [install.dir] }));
  /* eslint-enable @typescript-eslint/no-var-requires */
  return { RED, express };
}
