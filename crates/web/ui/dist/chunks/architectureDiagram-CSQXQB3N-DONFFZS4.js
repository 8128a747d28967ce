throw new Error("architectureDiagram-CSQXQB3N.mjs is not part of pathproof's page");
