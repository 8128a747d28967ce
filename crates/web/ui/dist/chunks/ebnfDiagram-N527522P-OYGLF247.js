throw new Error("ebnfDiagram-N527522P.mjs is not part of pathproof's page");
