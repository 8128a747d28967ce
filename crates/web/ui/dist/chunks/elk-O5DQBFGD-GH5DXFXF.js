throw new Error("elk-O5DQBFGD.mjs is not part of pathproof's page");
