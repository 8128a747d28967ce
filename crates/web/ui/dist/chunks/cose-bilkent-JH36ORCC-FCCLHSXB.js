throw new Error("cose-bilkent-JH36ORCC.mjs is not part of pathproof's page");
