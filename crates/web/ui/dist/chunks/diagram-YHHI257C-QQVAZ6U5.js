throw new Error("diagram-YHHI257C.mjs is not part of pathproof's page");
