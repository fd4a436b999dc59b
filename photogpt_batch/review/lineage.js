// Lineage on the review page: on each tile, what the job comes from and what follows it (each a link to that
// tile), its place in a chain and the pick it waits for; and a tile per sequence. It shares page.js's script
// element (one CSP hash) and, like it, puts text in with textContent only. page.js passes in what it owns:
//   ctx = { el(tag, className, text), has(id), follow(id), picks (Map of the picks in this browser) }.
const reviewLineage = (() => {
  "use strict";

  // Gates on picks, to be worded again when a pick changes in this page.
  const gates = [];

  function link(ctx, id, label) {
    if (!ctx.has(id)) return ctx.el("span", "lineage-text", label);
    // A button, not an <a href="#...">: the address's fragment holds the view, and a click must not change it.
    const button = ctx.el("button", "lineage-link", label);
    button.type = "button";
    button.dataset.job = id;
    button.setAttribute("aria-label", label + ": go to the tile of " + id);
    button.addEventListener("click", (event) => { event.stopPropagation(); ctx.follow(id); });
    return button;
  }

  function gateText(ctx, job, need) {
    if (!need.gate) return null;
    // The page's picks are the browser's until exported and recorded: the run reads only the recorded ones.
    return ctx.picks.has(need.job)
      ? need.gate + " (picked in this page: export the picks and record them with review --picks)"
      : need.gate;
  }

  // The lineage lines of a tile, or null for a job that has none.
  function lines(job, ctx) {
    const needs = job.needs || [];
    const followers = job.followers || [];
    if (!needs.length && !followers.length && !job.chain) return null;
    const box = ctx.el("div", "lineage");
    if (job.chain) box.append(ctx.el("p", "chain", job.chain.label + " (" + job.chain.jobs.join(" → ") + ")"));
    for (const [items, className] of [[needs, "needs"], [followers, "followers"]]) {
      if (!items.length) continue;
      const line = ctx.el("p", className);
      items.forEach((item, k) => {
        if (k) line.append(", ");
        line.append(link(ctx, item.job, item.label));
      });
      box.append(line);
    }
    for (const need of needs) {
      if (!need.gate) continue;
      const gate = ctx.el("p", "gate", gateText(ctx, job, need));
      gates.push({ node: gate, job, need });
      box.append(gate);
    }
    return box;
  }

  function refreshGates(ctx) {
    for (const gate of gates) gate.node.textContent = gateText(ctx, gate.job, gate.need);
  }

  // A sequence's tile: its video when its file is on disk (playing while pointed at or focused), else what it
  // waits for; its clips, each a link to its job's tile.
  function sequenceTile(sequence, ctx) {
    const tile = ctx.el("article", "tile sequence standing-" + sequence.standing);
    tile.tabIndex = 0;
    tile.setAttribute("aria-label", "sequence " + sequence.name + ", " + sequence.label);
    const media = ctx.el("div", sequence.src ? "media" : "media none");
    if (sequence.src) {
      const video = ctx.el("video");
      video.muted = true;
      video.defaultMuted = true;
      video.loop = true;
      video.playsInline = true;
      video.preload = "metadata";
      video.setAttribute("aria-label", "sequence " + sequence.name);
      video.src = sequence.src;
      video.addEventListener("click", () => { video.controls = true; });
      const start = () => { const started = video.play(); if (started) started.catch(() => {}); };
      tile.addEventListener("mouseenter", start);
      tile.addEventListener("focusin", start);
      tile.addEventListener("mouseleave", () => { if (!video.controls) video.pause(); });
      media.append(video);
    } else {
      media.append(ctx.el("div", "placeholder", sequence.label));
    }
    tile.append(media);
    const body = ctx.el("div", "body");
    body.append(ctx.el("span", "id", "sequence " + sequence.name));
    if (sequence.src) body.append(ctx.el("p", "meta", sequence.label));
    const clips = ctx.el("ol", "clips");
    for (const id of sequence.jobs) {
      const item = ctx.el("li", sequence.waiting.includes(id) ? "waiting" : null);
      item.append(link(ctx, id, id));
      if (sequence.waiting.includes(id)) item.append(" (not done)");
      clips.append(item);
    }
    body.append(clips);
    tile.append(body);
    return tile;
  }

  function sequences(section, list, ctx) {
    if (!list.length) return;
    section.append(ctx.el("h2", null, "Sequences"));
    const wrap = ctx.el("div", "tiles");
    for (const sequence of list) wrap.append(sequenceTile(sequence, ctx));
    section.append(wrap);
    section.hidden = false;
  }

  return { lines, refreshGates, sequences };
})();
