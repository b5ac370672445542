// Who a request counts against for rate limits: an API key by its position, else the client's
// IP, with an IPv6 client counted by its /64 (one subscriber usually holds all of it).

import { describe, expect, it } from "vitest";
import { clientId } from "../../src/routes/rate-limit.js";

describe("clientId", () => {
  it("Should name a key by its index and ignore the IP then", () => {
    expect(clientId(0, "192.0.2.1")).toBe("key:0");
    expect(clientId(3, undefined)).toBe("key:3");
  });

  it("Should count an IPv4 address as itself, and a missing one as one unknown client", () => {
    expect(clientId(null, "192.0.2.1")).toBe("ip:192.0.2.1");
    expect(clientId(null, undefined)).toBe("ip:unknown");
  });

  it("Should count every address of an IPv6 /64 as one client, however it is written", () => {
    const a = clientId(null, "2001:db8:0:1:aaaa::1");
    expect(a).toBe("ip6:2001:db8:0:1");
    expect(clientId(null, "2001:0DB8:0000:0001:ffff:ffff:ffff:ffff")).toBe(a);
    expect(clientId(null, "2001:db8::1:0:0:0:2")).toBe(a);
    expect(clientId(null, "2001:db8:0:2::1")).not.toBe(a);
    expect(clientId(null, "::1")).toBe("ip6:0:0:0:0");
  });
});
