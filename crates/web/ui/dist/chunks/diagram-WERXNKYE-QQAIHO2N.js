throw new Error("diagram-WERXNKYE.mjs is not part of pathproof's page");
