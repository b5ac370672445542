// Memory of a `wrangler dev` server's workerd processes from /proc, told apart: wrangler's proxy
// (the process listening on the server's port) and the Worker's own runtime. Linux only.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** The workerd processes of the server's process group, each with its resident set in MiB. */
export function workerdRss(pgid: number): Map<number, number> {
  const rss = new Map<number, number>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp !== pgid || !comm.startsWith("workerd")) continue;
      const kb = Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1]);
      rss.set(Number(pid), kb / 1024);
    } catch {} // the process ended between the listing and the read
  }
  return rss;
}

/** The pid listening on 127.0.0.1:`port` (wrangler's proxy), from /proc/net/tcp and fd links. */
export function listenerPid(port: number): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const line = readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .find(
      (l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`) && l.trim().split(/\s+/)[3] === "0A",
    );
  const inode = line?.trim().split(/\s+/)[9];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return Number(pid);
      }
    } catch {} // not ours to read, or gone
  }
  return undefined;
}
