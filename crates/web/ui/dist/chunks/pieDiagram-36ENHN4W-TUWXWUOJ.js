throw new Error("pieDiagram-36ENHN4W.mjs is not part of pathproof's page");
