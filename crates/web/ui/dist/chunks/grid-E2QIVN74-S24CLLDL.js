throw new Error("grid-E2QIVN74.mjs is not part of pathproof's page");
