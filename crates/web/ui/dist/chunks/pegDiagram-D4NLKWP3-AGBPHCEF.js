throw new Error("pegDiagram-D4NLKWP3.mjs is not part of pathproof's page");
