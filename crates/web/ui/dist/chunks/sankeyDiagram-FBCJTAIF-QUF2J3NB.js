throw new Error("sankeyDiagram-FBCJTAIF.mjs is not part of pathproof's page");
