throw new Error("quadrantDiagram-ZQUDMS73.mjs is not part of pathproof's page");
