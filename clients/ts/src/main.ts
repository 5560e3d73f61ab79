// A field app's round trip through the client generated from the schema (openapi-typescript types, openapi-fetch
// calls): log in, list model households, create a demonstration base and a visit, and pull. Each step prints one JSON
// line; tests/api_docs/test_generated_clients.py runs it against a live server and checks the lines.
//
//   node build/main.js BASE_URL ADMIN WORKER PASSWORD HOUSEHOLD_ID VISIT_ID
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type ApiError = components["schemas"]["Error"];

const [baseUrl, admin, worker, password, household, visitId] = process.argv.slice(2);
if (!baseUrl || !admin || !worker || !password || !household || !visitId) {
  throw new Error("usage: main.js BASE_URL ADMIN WORKER PASSWORD HOUSEHOLD_ID VISIT_ID");
}

function print(step: string, value: object): void {
  console.log(JSON.stringify({ step, ...value }));
}

function failed(step: string, status: number, error: ApiError | undefined): never {
  throw new Error(`${step}: ${status} ${error?.code ?? ""} ${error?.message ?? ""}`);
}

async function login(username: string, password: string) {
  const client = createClient<paths>({ baseUrl, headers: { "Accept-Language": "en" } });
  const { data, error, response } = await client.POST("/api/v1/auth/login/", {
    body: { username, password, device: "ts-client" },
  });
  if (!data) failed("login", response.status, error);
  print("login", { username, role: data.user.role });
  const authed = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Token ${data.token}`, "Accept-Language": "en" },
  });
  return authed;
}

async function main(): Promise<void> {
  const refused = await createClient<paths>({ baseUrl }).POST("/api/v1/auth/login/", {
    body: { username: admin!, password: "wrong password" },
    headers: { "Accept-Language": "en" },
  });
  // A typed error: the body is the API's Error, with its machine-readable code.
  print("refused", { status: refused.response.status, code: refused.error?.code ?? null });

  const bureau = await login(admin!, password!);
  const households = await bureau.GET("/api/v1/model-households/", { params: { query: { page_size: 50 } } });
  if (!households.data) failed("households", households.response.status, households.error);
  print("households", { count: households.data.count, ids: households.data.results.map((h) => h.id) });

  const parcel: components["schemas"]["PolygonGeometryRequest"] = {
    type: "Polygon",
    coordinates: [
      [
        [108.758, 30.948],
        [108.762, 30.948],
        [108.762, 30.952],
        [108.758, 30.952],
        [108.758, 30.948],
      ],
    ],
  };
  const base = await bureau.POST("/api/v1/demonstration-bases/", {
    body: {
      name: "TypeScript 示范基地",
      industry: "citrus",
      lat: 30.95,
      lon: 108.76,
      village_code: "500235001001",
      area_mu: "12.50",
      status: "certified",
      certified_on: "2026-03-01",
      parcel,
    },
  });
  if (!base.data) failed("base", base.response.status, base.error);
  print("base", { id: base.data.id, parcel_type: base.data.parcel?.type ?? null });

  const field = await login(worker!, password!);
  const visit = await field.POST("/api/v1/visits/", {
    body: {
      id: visitId!,
      kind: "guidance",
      industry: "citrus",
      household: household!,
      started_at: "2026-03-14T09:30:00+08:00",
      lat: 30.95614,
      lon: 108.76893,
      notes: "TypeScript",
    },
  });
  if (!visit.data) failed("visit", visit.response.status, visit.error);
  print("visit", { id: visit.data.id, kind: visit.data.kind });

  const missing = await field.GET("/api/v1/visits/{id}/", {
    params: { path: { id: "00000000-0000-4000-8000-000000000000" } },
  });
  print("missing", { status: missing.response.status, code: missing.error?.code ?? null });

  // A first pull pages by sync_token to the end; the next pull sends the last token and gets only what changed.
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await field.GET("/api/v1/sync/", {
      params: { query: token === undefined ? { page_size: 5 } : { page_size: 5, sync_token: token } },
    });
    if (!page.data) failed("pull", page.response.status, page.error);
    pages += 1;
    for (const record of page.data.results) seen.push(`${record.type}:${String(record.id)}`);
    token = page.data.sync_token;
    if (page.data.next === null) break;
  }
  print("pull", { pages, records: seen });
  const again = await field.GET("/api/v1/sync/", { params: { query: { sync_token: token } } });
  if (!again.data) failed("pull again", again.response.status, again.error);
  print("pull again", { records: again.data.results.map((r) => `${r.type}:${String(r.id)}`) });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
