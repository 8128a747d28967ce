throw new Error("swimlanes-YQL5WMAO.mjs is not part of pathproof's page");
