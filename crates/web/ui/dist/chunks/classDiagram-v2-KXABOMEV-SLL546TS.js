throw new Error("classDiagram-v2-KXABOMEV.mjs is not part of pathproof's page");
