"use strict";
// The live leaderboard page: the top of a game, pushed by GET /stream/topk
// (Server-Sent Events), and a player's rank and neighbours (GET /rank, /around).
// Everything shown comes from the API as text (never as HTML), because user ids
// and display names are whatever players sent.
(() => {
  const TOP = 20;
  const NEIGHBOURS = 5;
  const KEY_STORAGE = "leaderboard-api-key";

  const $ = (id) => document.getElementById(id);
  let source = null;
  let game = "";
  let slice = ""; // "" for the whole board, else "<tag key>:<value>"
  let shown = new Map(); // userId -> score (and sort columns), as last rendered, to flash what changed

  function apiKey() {
    return $("key").value.trim();
  }

  function authHeaders() {
    const key = apiKey();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: authHeaders() });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      throw new Error((body && body.error) || response.status + " " + response.statusText);
    }
    return body;
  }

  function query(params) {
    return new URLSearchParams(params).toString();
  }

  function setStatus(state, text) {
    const badge = $("status");
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function setMessage(id, text, isError) {
    const element = $(id);
    element.textContent = text;
    element.classList.toggle("error", Boolean(isError));
  }

  function playerCell(entry) {
    const cell = document.createElement("td");
    cell.className = "player";
    if (entry.displayName) {
      cell.append(entry.displayName);
      const id = document.createElement("small");
      id.textContent = entry.userId;
      cell.append(id);
    } else {
      cell.textContent = entry.userId;
    }
    return cell;
  }

  // The gap can exceed 2^53 (scores at both ends of the range), past what a JavaScript
// number holds exactly; the two scores never do, so it is computed from them in BigInt.
function gapOf(standing) {
  const gap = BigInt(standing.next.score) - BigInt(standing.score);
  return (gap < 0n ? -gap : gap).toLocaleString("en");
}

// A player's score, with their sort columns in games that declare them: "3 (time 5234)".
// (A column value past 2^53 shows as JSON.parse read it, rounded.)
function scoreText(entry) {
  const score = entry.score.toLocaleString("en");
  if (!entry.columns) return score;
  return score + " (" + Object.entries(entry.columns).map(([name, value]) => name + " " + value).join(", ") + ")";
}

function row(entry, className) {
    const tr = document.createElement("tr");
    tr.dataset.userId = entry.userId;
    tr.dataset.score = String(entry.score);
    tr.dataset.rank = String(entry.rank);
    if (className) tr.className = className;
    const rank = document.createElement("td");
    rank.className = "rank";
    rank.textContent = String(entry.rank);
    const score = document.createElement("td");
    score.className = "score";
    score.textContent = scoreText(entry);
    const tier = document.createElement("td");
    tier.className = "tier";
    tier.textContent = entry.tier || "";
    tr.append(rank, playerCell(entry), score, tier);
    return tr;
  }

  function renderTop(players) {
    const next = new Map(players.map((entry) => [entry.userId, scoreText(entry)]));
    const rows = players.map((entry) => row(entry, shown.size && shown.get(entry.userId) !== scoreText(entry) ? "changed" : ""));
    $("top").querySelector("tbody").replaceChildren(...rows);
    shown = next;
    $("top-size").textContent = String(TOP);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    const where = slice ? game + " (" + slice + ")" : game;
    setMessage("top-message", players.length ? "" : "No scores in " + where + " yet.", false);
  }

  async function explainRefusal() {
    // EventSource hides the status of a refused stream; /topk tells why.
    try {
      await getJson("/topk?" + query(sliceParams({ gameId: game, k: 1 })));
      setMessage("top-message", "The stream closed; pick the game again to retry.", true);
    } catch (error) {
      setMessage("top-message", error.message, true);
    }
  }

  function sliceParams(params) {
    return slice ? { ...params, slice: slice } : params;
  }

  function tierCutOff(tier) {
    if (tier.top !== undefined) return "top " + tier.top;
    if (tier.score !== undefined) return "score " + tier.score.toLocaleString("en");
    return "everyone else";
  }

  async function describeGame() {
    // The game's tiers, and its tag keys as slice suggestions.
    try {
      const described = await getJson("/games/" + encodeURIComponent(game));
      const tiers = described.tiers || [];
      $("tiers").textContent = tiers.length
        ? "Tiers: " + tiers.map((tier) => tier.name + " (" + tierCutOff(tier) + ")").join(" · ")
        : "";
      $("tiers").hidden = !tiers.length;
      $("slice-keys").replaceChildren(...(described.tags || []).map((key) => {
        const option = document.createElement("option");
        option.value = key + ":";
        return option;
      }));
    } catch (_) {
      $("tiers").hidden = true;
    }
  }

  function watch(gameId, sliceText) {
    if (source) source.close();
    game = gameId;
    slice = sliceText;
    shown = new Map();
    $("top").querySelector("tbody").replaceChildren();
    setStatus("connecting", "connecting");
    describeGame();
    const params = sliceParams({ gameId: game, k: TOP });
    if (apiKey()) params.key = apiKey();
    const stream = new EventSource("/stream/topk?" + query(params));
    source = stream;
    stream.addEventListener("open", () => setStatus("live", "live"));
    stream.addEventListener("topk", (event) => {
      setStatus("live", "live");
      renderTop(JSON.parse(event.data));
    });
    stream.addEventListener("unavailable", (event) => {
      setStatus("error", "unavailable");
      setMessage("top-message", JSON.parse(event.data).error, true);
    });
    stream.addEventListener("error", () => {
      if (stream !== source) return;
      if (stream.readyState === EventSource.CLOSED) {
        setStatus("error", "stopped");
        explainRefusal();
      } else {
        setStatus("connecting", "reconnecting");
      }
    });
    const url = new URL(location.href);
    url.searchParams.set("gameId", game);
    if (slice) url.searchParams.set("slice", slice);
    else url.searchParams.delete("slice");
    history.replaceState(null, "", url);
  }

  async function lookUp(userId) {
    const path = encodeURIComponent(userId);
    const params = query(sliceParams({ gameId: game }));
    $("standing").hidden = true;
    $("around").hidden = true;
    setMessage("player-message", "Looking up " + userId + "…", false);
    try {
      const [standing, around] = await Promise.all([
        getJson("/rank/" + path + "?" + params),
        getJson("/around/" + path + "?" + params + "&" + query({ n: NEIGHBOURS })),
      ]);
      $("standing-rank").textContent = String(standing.rank);
      $("standing-score").textContent = scoreText(standing);
      $("standing-percentile").textContent = standing.percentile + " %";
      $("standing-total").textContent = String(standing.total);
      const gap = standing.next ? gapOf(standing) : "";
      $("standing-next").textContent = standing.next
        // A gap of 0: the player above has the same score and ranks higher on sort columns.
        ? standing.next.userId + " (rank " + standing.next.rank + ", " + (gap === "0" ? "ahead on columns" : gap + " ahead") + ")"
        : "nobody: leads the game";
      $("standing-season").textContent = standing.season;
      $("standing-tier").textContent = standing.tier || "none";
      $("standing-next-tier").textContent = standing.nextTier
        ? standing.nextTier.name + " (" + standing.nextTier.gap.toLocaleString("en") + " points away)"
        : "none";
      $("standing-global").textContent = standing.slice
        ? standing.globalRank + " of " + standing.globalTotal
        : String(standing.rank);
      $("around").querySelector("tbody").replaceChildren(
        ...around.map((entry) => row(entry, entry.userId === userId ? "me" : "")));
      $("standing").hidden = false;
      $("around").hidden = false;
      setMessage("player-message", "", false);
    } catch (error) {
      setMessage("player-message", error.message, true);
    }
  }

  async function listGames() {
    // Only a hint for the game field: without a key that may read, it stays empty.
    try {
      const games = await getJson("/games?" + query({ limit: 100 }));
      $("games").replaceChildren(...games.map((entry) => {
        const option = document.createElement("option");
        option.value = entry.gameId;
        return option;
      }));
    } catch (_) {
      $("games").replaceChildren();
    }
  }

  $("watch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, apiKey());
    const gameId = $("game").value.trim();
    if (gameId) watch(gameId, $("slice").value.trim());
    listGames();
  });

  $("player-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const userId = $("player").value.trim();
    if (!game) {
      setMessage("player-message", "Pick a game first.", true);
    } else if (userId) {
      lookUp(userId);
    }
  });

  $("key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  const initial = new URLSearchParams(location.search);
  if (initial.get("gameId")) {
    $("game").value = initial.get("gameId");
    $("slice").value = initial.get("slice") || "";
    watch(initial.get("gameId"), $("slice").value.trim());
  }
  listGames();
})();
