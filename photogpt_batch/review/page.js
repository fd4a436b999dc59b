// The review page of a photogpt-batch campaign. Everything it shows comes from the JSON block in the page and is
// put in with textContent or properties, never parsed as markup. Only tiles near the view hold video elements:
// a thousand <video> elements cost a second to insert, a few dozen nothing.
(() => {
  "use strict";

  const data = JSON.parse(document.getElementById("page-data").textContent);
  const jobs = data.jobs;
  const axes = data.axes;
  const NONE = "";
  const ALL = "";

  // ---- small DOM helpers -----------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function show(value) {
    if (typeof value === "string") return value;
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value.join("\n");
    return JSON.stringify(value);
  }
  function option(select, value, label) {
    const node = el("option", null, label);
    node.value = value;
    select.append(node);
  }

  // ---- axes and their values ---------------------------------------------------------------------------
  const values = {};
  for (const axis of axes) {
    const seen = new Set();
    for (const job of jobs) seen.add(job.axes[axis]);
    values[axis] = Array.from(seen);
  }
  const varying = axes.filter((axis) => values[axis].length > 1);
  const states = Array.from(new Set(jobs.map((job) => job.state)));

  // ---- picks: kept in this browser per campaign, seeded from those recorded in the ledger ----------------
  const storeKey = "photogpt-batch:picks:" + data.campaign;
  const picks = new Map();
  function loadPicks() {
    let stored = null;
    try { stored = JSON.parse(window.localStorage.getItem(storeKey) || "null"); } catch (e) { stored = null; }
    if (stored && typeof stored === "object" && !Array.isArray(stored)) {
      for (const [id, at] of Object.entries(stored)) picks.set(id, typeof at === "string" ? at : null);
    } else if (data.picks && Array.isArray(data.picks.jobs)) {
      for (const pick of data.picks.jobs) picks.set(pick.job, pick.pickedAt || null);
    }
  }
  function savePicks() {
    try { window.localStorage.setItem(storeKey, JSON.stringify(Object.fromEntries(picks))); } catch (e) { /* private mode: picks last the visit */ }
  }

  // ---- the view, kept in the URL's fragment ----------------------------------------------------------------
  const view = { rows: NONE, cols: NONE, filters: {}, state: ALL, picked: false };
  function readView() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const has = (axis) => axis === NONE || axes.includes(axis);
    let rows = params.get("rows");
    let cols = params.get("cols");
    if (rows === null && cols === null) {
      // The two axes that vary most clearly: the first two that have more than one value.
      cols = varying.length > 1 ? varying[1] : (varying[0] || NONE);
      rows = varying.length > 1 ? varying[0] : NONE;
    }
    view.rows = has(rows || NONE) ? (rows || NONE) : NONE;
    view.cols = has(cols || NONE) ? (cols || NONE) : NONE;
    if (view.rows === view.cols) view.rows = NONE;
    view.filters = {};
    for (const axis of axes) {
      const value = params.get("f." + axis);
      if (value !== null && values[axis].includes(value)) view.filters[axis] = value;
    }
    const state = params.get("state");
    view.state = state !== null && states.includes(state) ? state : ALL;
    view.picked = params.get("picked") === "1";
  }
  function writeView() {
    const params = new URLSearchParams();
    params.set("rows", view.rows);
    params.set("cols", view.cols);
    for (const [axis, value] of Object.entries(view.filters)) params.set("f." + axis, value);
    if (view.state) params.set("state", view.state);
    if (view.picked) params.set("picked", "1");
    const hash = "#" + params.toString();
    if (window.location.hash !== hash) window.history.replaceState(null, "", hash);
  }

  // ---- media: video elements, with their src, only near the view ----------------------------------------
  // A tile's media box observes the view: near it (400 px ahead) the box gets its <video> elements, far from it
  // (2,500 px) it gives them back, which also frees their decoders and buffers.
  function videosOf(media) {
    if (!media.childElementCount && media.dataset.job) {
      const job = jobs[Number(media.dataset.job)];
      for (const item of job.videos) {
        if (!item.src) continue;
        const video = el("video");
        video.muted = true;
        video.defaultMuted = true;
        video.loop = true;
        video.playsInline = true;
        video.preload = "metadata";
        video.setAttribute("aria-label", "video " + item.n + " of " + job.id);
        video.addEventListener("click", () => showControls(video, true));
        video.src = item.src;
        media.append(video);
      }
    }
    return media.querySelectorAll("video");
  }
  function release(media) {
    for (const video of media.querySelectorAll("video")) {
      if (video.controls || document.activeElement === video) continue; // in use: kept
      video.pause();
      video.removeAttribute("src");
      video.load();
      video.remove();
    }
  }
  const near = new IntersectionObserver((entries) => {
    for (const entry of entries) if (entry.isIntersecting) videosOf(entry.target);
  }, { rootMargin: "400px" });
  const far = new IntersectionObserver((entries) => {
    for (const entry of entries) if (!entry.isIntersecting) release(entry.target);
  }, { rootMargin: "2500px" });

  function start(video) {
    const started = video.play();
    if (started) started.catch(() => {});
  }
  function play(tile) {
    const media = tile.querySelector(".media");
    if (media) for (const video of videosOf(media)) start(video);
  }
  function pause(tile) {
    for (const video of tile.querySelectorAll("video")) if (!video.controls) video.pause();
  }
  function showControls(video, on) {
    video.controls = on;
    if (on) start(video);
  }

  // ---- tiles, built once -----------------------------------------------------------------------------------
  const pickButtons = [];
  function setPicked(index, on) {
    const job = jobs[index];
    if (on) picks.set(job.id, new Date().toISOString()); else picks.delete(job.id);
    savePicks();
    tiles[index].classList.toggle("picked", on);
    pickButtons[index].setAttribute("aria-pressed", on ? "true" : "false");
    pickButtons[index].textContent = on ? "★ picked" : "☆ pick";
    updateTotals();
    reviewLineage.refreshGates(lineageContext);
    if (view.picked && !on) render();
  }
  function ratioOf(job) {
    const ratio = job.options.aspectRatio || job.options.ratio;
    const match = typeof ratio === "string" ? /^(\d+):(\d+)$/.exec(ratio) : null;
    return match && Number(match[1]) > 0 && Number(match[2]) > 0 ? [Number(match[1]), Number(match[2])] : [16, 9];
  }
  function buildTile(job, index) {
    const tile = el("article", "tile state-" + job.state);
    tile.tabIndex = -1;
    tile.dataset.index = String(index);
    tile.setAttribute("aria-label", job.id + ", " + job.model + ", " + job.stateLabel);
    const playable = job.videos.filter((video) => video.src);
    // The box has its final size before its videos arrive: the requested ratio, side by side for several.
    const media = el("div", playable.length ? "media" : "media none");
    if (playable.length) {
      const [w, h] = ratioOf(job);
      media.style.aspectRatio = w * playable.length + " / " + h;
      media.dataset.job = String(index);
      near.observe(media);
      far.observe(media);
    } else {
      const waiting = job.videos.map((video) => "video " + video.n + ": " + video.state).join(", ");
      media.append(el("div", "placeholder", job.stateLabel + (waiting ? " (" + waiting + ")" : "")));
    }
    tile.append(media);
    const withFrames = playable.filter((item) => item.lastFrame);
    if (withFrames.length) {
      const last = el("div", "last");
      for (const item of withFrames) {
        const img = el("img");
        img.loading = "lazy";
        img.decoding = "async";
        img.src = item.lastFrame;
        img.alt = "last frame of video " + item.n + " of " + job.id;
        img.title = img.alt;
        last.append(img);
      }
      last.append(el("span", null, withFrames.length > 1 ? "last frames" : "last frame"));
      tile.append(last);
    }
    const body = el("div", "body");
    const top = el("div", "top");
    top.append(el("span", "id", job.id));
    const pick = el("button", "pick", "☆ pick");
    pick.type = "button";
    pick.setAttribute("aria-pressed", "false");
    pick.setAttribute("aria-label", "pick " + job.id);
    pick.addEventListener("click", () => setPicked(index, !picks.has(job.id)));
    pickButtons[index] = pick;
    top.append(pick);
    body.append(top);
    const meta = el("div", "meta");
    meta.append(el("span", null, job.model), el("span", "badge " + job.state, job.stateLabel),
      el("span", "credits", job.credits === null ? "credits: –" : job.credits + " credits"));
    body.append(meta);
    const lineage = reviewLineage.lines(job, lineageContext);
    if (lineage) body.append(lineage);
    body.append(el("p", "prompt", job.prompt));
    const options = el("dl", "options");
    for (const [key, value] of Object.entries(job.options)) {
      options.append(el("dt", null, key), el("dd", null, show(value)));
    }
    if (options.childElementCount) body.append(options);
    if (job.error) body.append(el("p", "error", (job.state === "failed" ? "server: " : "") + job.error));
    for (const video of job.videos) {
      if (video.error && video.state === "failed") body.append(el("p", "error", "video " + video.n + ": " + video.error));
    }
    // Earlier versions (the spec changed since) that were sent: paid, so followed to their end and linked here.
    for (const old of job.earlierVersions || []) {
      const line = el("p", old.finished ? "earlier" : "earlier unfinished",
        "v" + old.version + " (earlier request): " + old.ledgerState + (old.finished ? "" : ", not finished") +
        (old.credits === null ? "" : ", " + old.credits + " credits") + (old.error ? " (" + old.error + ")" : ""));
      for (const video of old.videos) {
        if (!video.src) continue;
        const link = el("a", null, "video " + video.n);
        link.href = video.src;
        line.append(" ", link);
      }
      body.append(line);
    }
    tile.append(body);
    tile.addEventListener("mouseenter", () => play(tile));
    tile.addEventListener("mouseleave", () => pause(tile));
    tile.addEventListener("focusin", () => play(tile));
    tile.addEventListener("focusout", (event) => { if (!tile.contains(event.relatedTarget)) pause(tile); });
    return tile;
  }
  // Lineage links (lineage.js) lead from tile to tile by job id.
  const indexOf = new Map(jobs.map((job, i) => [job.id, i]));
  const lineageContext = { el, picks, has: (id) => indexOf.has(id), follow };
  const tiles = jobs.map(buildTile);
  loadPicks();
  for (let i = 0; i < jobs.length; i++) {
    if (picks.has(jobs[i].id)) {
      tiles[i].classList.add("picked");
      pickButtons[i].setAttribute("aria-pressed", "true");
      pickButtons[i].textContent = "★ picked";
    }
  }

  // ---- layout ----------------------------------------------------------------------------------------------
  const grid = document.getElementById("grid");
  let shown = [];
  function visible(index) {
    const job = jobs[index];
    for (const [axis, value] of Object.entries(view.filters)) if (job.axes[axis] !== value) return false;
    if (view.state && job.state !== view.state) return false;
    if (view.picked && !picks.has(job.id)) return false;
    return true;
  }
  function head(className, role, axis, value) {
    const node = el("div", className);
    node.setAttribute("role", role);
    node.append(el("span", "axis", axis), document.createTextNode(value));
    return node;
  }
  function render() {
    shown = [];
    for (let i = 0; i < jobs.length; i++) if (visible(i)) shown.push(i);
    const fragment = document.createDocumentFragment();
    if (!shown.length) {
      fragment.append(el("p", "empty", "No job matches these filters."));
    } else if (view.rows === NONE && view.cols === NONE) {
      grid.className = "plain";
      const wrap = el("div", "tiles");
      for (const i of shown) wrap.append(tiles[i]);
      fragment.append(wrap);
    } else {
      const key = (axis, i) => (axis === NONE ? "" : jobs[i].axes[axis]);
      const used = (axis) => (axis === NONE ? [""] : values[axis].filter((v) => shown.some((i) => key(axis, i) === v)));
      const rowValues = used(view.rows);
      const colValues = used(view.cols);
      const cells = new Map();
      for (const i of shown) {
        const at = key(view.rows, i) + "\u0000" + key(view.cols, i);
        if (!cells.has(at)) cells.set(at, []);
        cells.get(at).push(i);
      }
      const table = el("div", "matrix");
      table.setAttribute("role", "table");
      table.setAttribute("aria-label", (view.rows || "all") + " by " + (view.cols || "all"));
      table.style.gridTemplateColumns = "auto repeat(" + colValues.length + ", max-content)";
      const header = el("div", "row");
      header.setAttribute("role", "row");
      const corner = el("div", "corner", (view.rows || "·") + " \\ " + (view.cols || "·"));
      corner.setAttribute("role", "columnheader");
      header.append(corner);
      for (const value of colValues) header.append(head("colhead", "columnheader", view.cols || "all", view.cols ? value : "jobs"));
      table.append(header);
      for (const rowValue of rowValues) {
        const row = el("div", "row");
        row.setAttribute("role", "row");
        row.append(head("rowhead", "rowheader", view.rows || "all", view.rows ? rowValue : "jobs"));
        for (const colValue of colValues) {
          const cell = el("div", "cell");
          cell.setAttribute("role", "cell");
          for (const i of cells.get(rowValue + "\u0000" + colValue) || []) cell.append(tiles[i]);
          row.append(cell);
        }
        table.append(row);
      }
      grid.className = "";
      fragment.append(table);
    }
    grid.replaceChildren(fragment);
    // One tile in the tab order (roving tabindex); arrows move between the rest.
    const current = grid.querySelector('.tile[tabindex="0"]');
    if (!current && shown.length) tiles[shown[0]].tabIndex = 0;
    updateTotals();
  }

  function updateTotals() {
    const t = data.totals;
    const parts = [t.jobs + (t.jobs === 1 ? " job" : " jobs")];
    for (const [state, n] of Object.entries(t.states)) parts.push(n + " " + state.replace("_", " "));
    parts.push(t.videos + (t.videos === 1 ? " video" : " videos"));
    parts.push(t.credits === null ? "credits unknown" : t.credits + " credits");
    parts.push(picks.size + " picked");
    if (shown.length !== jobs.length) {
      let credits = 0;
      for (const i of shown) credits += jobs[i].credits || 0;
      parts.push("showing " + shown.length + " (" + credits + " credits)");
    }
    document.getElementById("totals").textContent = parts.join(" · ");
  }

  // ---- controls --------------------------------------------------------------------------------------------
  const rowsSelect = document.getElementById("rows");
  const colsSelect = document.getElementById("cols");
  const stateSelect = document.getElementById("state");
  const pickedOnly = document.getElementById("picked-only");
  const filterBox = document.getElementById("filters");
  const filterSelects = {};
  for (const select of [rowsSelect, colsSelect]) {
    option(select, NONE, "(none)");
    for (const axis of axes) option(select, axis, axis);
  }
  option(stateSelect, ALL, "all");
  for (const state of states) option(stateSelect, state, state.replace("_", " "));
  for (const axis of axes) {
    const label = el("label", null, axis + " ");
    const select = el("select");
    select.dataset.axis = axis;
    option(select, ALL, "all");
    for (const value of values[axis]) option(select, value, value);
    select.addEventListener("change", () => {
      if (select.value === ALL) delete view.filters[axis]; else view.filters[axis] = select.value;
      changed();
    });
    label.append(select);
    filterBox.append(label);
    filterSelects[axis] = select;
  }
  function syncControls() {
    rowsSelect.value = view.rows;
    colsSelect.value = view.cols;
    stateSelect.value = view.state;
    pickedOnly.checked = view.picked;
    for (const axis of axes) filterSelects[axis].value = view.filters[axis] || ALL;
  }
  function changed() {
    writeView();
    render();
  }
  rowsSelect.addEventListener("change", () => {
    view.rows = rowsSelect.value;
    if (view.rows && view.rows === view.cols) view.cols = NONE;
    syncControls();
    changed();
  });
  colsSelect.addEventListener("change", () => {
    view.cols = colsSelect.value;
    if (view.cols && view.cols === view.rows) view.rows = NONE;
    syncControls();
    changed();
  });
  stateSelect.addEventListener("change", () => { view.state = stateSelect.value; changed(); });
  pickedOnly.addEventListener("change", () => { view.picked = pickedOnly.checked; changed(); });
  window.addEventListener("hashchange", () => { readView(); syncControls(); render(); });

  // ---- export: a JSON file for `photogpt-batch review SPEC --picks FILE` ---------------------------------
  const download = document.getElementById("download");
  document.getElementById("export").addEventListener("click", () => {
    const picked = jobs.filter((job) => picks.has(job.id)).map((job) => ({ job: job.id, pickedAt: picks.get(job.id) }));
    const file = { format: "photogpt-batch-picks", version: 1, campaign: data.campaign,
      exportedAt: new Date().toISOString(), picks: picked };
    const blob = new Blob([JSON.stringify(file, null, 2) + "\n"], { type: "application/json" });
    if (download.href) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(blob);
    download.download = data.campaign + "-picks.json";
    download.textContent = "download " + download.download + " (" + picked.length + " picked)";
    download.hidden = false;
    download.click();
  });
  document.getElementById("clear").addEventListener("click", () => {
    for (let i = 0; i < jobs.length; i++) if (picks.has(jobs[i].id)) setPicked(i, false);
  });

  // ---- keyboard: arrows between tiles, P to pick, Enter/Escape for controls ---------------------------------
  function focusTile(tile) {
    const current = grid.querySelector('.tile[tabindex="0"]');
    if (current && current !== tile) current.tabIndex = -1;
    tile.tabIndex = 0;
    tile.focus({ preventScroll: true });
    tile.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
  function nextTile(from, key) {
    const all = Array.from(grid.querySelectorAll(".tile"));
    const at = all.indexOf(from);
    if (key === "ArrowRight") return all[at + 1];
    if (key === "ArrowLeft") return all[at - 1];
    if (key === "Home") return all[0];
    if (key === "End") return all[all.length - 1];
    const here = from.getBoundingClientRect();
    const x = here.left + here.width / 2;
    let best = null;
    let bestScore = Infinity;
    for (const tile of all) {
      if (tile === from) continue;
      const r = tile.getBoundingClientRect();
      const dy = key === "ArrowDown" ? r.top - here.bottom : here.top - r.bottom;
      if (dy < -1) continue;
      const score = dy + 3 * Math.abs(r.left + r.width / 2 - x);
      if (score < bestScore) { bestScore = score; best = tile; }
    }
    return best;
  }
  grid.addEventListener("keydown", (event) => {
    const tile = event.target.closest ? event.target.closest(".tile") : null;
    if (!tile || event.altKey || event.ctrlKey || event.metaKey) return;
    const index = Number(tile.dataset.index);
    const onTile = event.target === tile;
    if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].includes(event.key)) {
      if (!onTile && event.target.tagName === "VIDEO" && event.target.controls) return; // the player's own keys
      const next = nextTile(tile, event.key);
      if (next) focusTile(next);
      event.preventDefault();
    } else if ((event.key === "p" || event.key === "P") && event.target.tagName !== "SELECT") {
      setPicked(index, !picks.has(jobs[index].id));
      event.preventDefault();
    } else if (event.key === "Enter" && onTile) {
      const media = tile.querySelector(".media");
      const video = media ? videosOf(media)[0] : null;
      if (video) { showControls(video, true); video.focus(); }
      event.preventDefault();
    } else if (event.key === "Escape") {
      for (const video of tile.querySelectorAll("video")) showControls(video, false);
      focusTile(tile);
    }
  });
  // A lineage link: show the tile (clearing the filters that hide it), bring it into view, focus and mark it.
  function follow(id) {
    const index = indexOf.get(id);
    if (index === undefined) return;
    if (!shown.includes(index)) {
      view.filters = {};
      view.state = ALL;
      view.picked = false;
      syncControls();
      changed();
    }
    for (const old of document.querySelectorAll(".tile.target")) old.classList.remove("target");
    tiles[index].classList.add("target");
    focusTile(tiles[index]);
    tiles[index].scrollIntoView({ block: "center", inline: "center" });
  }
  grid.addEventListener("focusin", (event) => {
    const tile = event.target.closest ? event.target.closest(".tile") : null;
    if (tile && event.target === tile) focusTile(tile);
  });

  document.getElementById("title").textContent = data.campaign;
  readView();
  syncControls();
  writeView();
  render();
  reviewLineage.sequences(document.getElementById("sequences"), data.sequences || [], lineageContext);
})();
