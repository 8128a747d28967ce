throw new Error("blockDiagram-BEDRHYPZ.mjs is not part of pathproof's page");
