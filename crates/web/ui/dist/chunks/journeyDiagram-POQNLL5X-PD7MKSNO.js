throw new Error("journeyDiagram-POQNLL5X.mjs is not part of pathproof's page");
